"""The fault matrix: every way NCBI (or the network) misbehaves, against the real replay server and both databases.

Each test ends by checking the stored state against the corpus: every PMID the search should find is stored
exactly once (one article row, one version, one assessment), the watermark says exactly what was completed, and the
run history tells what happened. Retries are kept fast (backoff_base 0.001, max_attempts 3). The server enforces a
per-key limit of RATE requests/s and the client is configured for exactly that pace (NCBI's mechanics at 4x its
with-key rate, to keep the matrix quick), so `rate_violations == 0` is a real check of the pacing under retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
import sqlalchemy as sa

from litwatch.pipeline.config import Settings
from litwatch.pipeline.errors import EutilsRequestError, EutilsTransientError, EutilsUnreachable, RunStepError
from litwatch.pipeline.ncbi import DateWindow, full_term
from litwatch.pipeline.pubmed.dtd import DtdUnavailableError, download_dtd, is_ncbi_dtd_url
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.pipeline.watchlist import load_watchlist
from litwatch.storage.engine import make_engine
from tests.conftest import DOMAIN_RECORDS
from tests.test_end_to_end import make_settings

QUERY = "stem-cells"
SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 24)
BATCH = 10  # 36 hits → 4 efetch batches
REQUEST = RunRequest(query_ids=(QUERY,), since=SINCE, until=UNTIL, check_cited=False)
# One clean run of QUERY: esearch count + esearch with history, then one efetch per batch.
CLEAN_ESEARCH, CLEAN_EFETCH = 2, 4
RATE = 40.0


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.from_files([DOMAIN_RECORDS])


@pytest.fixture
def server(corpus: Corpus) -> Iterator[ReplayServer]:
    with ReplayServer(corpus, api_key_rate_limit=RATE) as srv:
        yield srv


def settings_for(tmp_path: Path, base_url: str, db_url: str, **ncbi: object) -> Settings:
    """NCBI_API_KEY set, batches of BATCH, backoff_base 0.001, max_attempts 3, paced at RATE."""
    return make_settings(tmp_path, base_url, db_url, batch_size=BATCH, requests_per_second=RATE, **ncbi)


def query_term(settings: Settings, query_id: str = QUERY) -> str:
    return next(q.term for a in load_watchlist(settings.queries_dir) for q in a.queries if q.id == query_id)


def expected_ids(corpus: Corpus, settings: Settings, since: date = SINCE, until: date = UNTIL) -> list[str]:
    """What esearch answers for the window, in its order (newest PMID first), by the server's own matcher."""
    return corpus.search(full_term(query_term(settings), DateWindow(since, until)))


@dataclass(frozen=True)
class DbState:
    """Everything a run leaves behind that matters for "nothing lost, nothing duplicated"."""

    articles: dict[str, tuple[int, str]]  # pmid → (version, content_hash)
    versions: dict[str, int]  # pmid → number of article_versions rows
    assessments: dict[str, int]  # pmid → number of assessment rows
    hits: dict[str, frozenset[str]]  # query id → pmids ever hit
    watermarks: dict[str, date]
    runs: list[tuple[str, str | None, list[str]]]  # (status, error, warnings), oldest first

    def comparable(self) -> tuple[object, ...]:
        """What must equal between a run that was interrupted and one that was not (run history differs)."""
        return self.articles, self.versions, self.assessments, self.hits, self.watermarks


def db_state(db_url: str) -> DbState:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        q = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731 - local shorthand
        state = DbState(
            articles={p: (v, h) for p, v, h in q("select pmid, version, content_hash from articles")},
            versions=dict(q("select pmid, count(*) from article_versions group by pmid")),
            assessments=dict(q("select pmid, count(*) from assessments group by pmid")),
            hits={k: frozenset(p for qid, p in q("select query_id, pmid from query_hits") if qid == k)
                  for (k,) in q("select distinct query_id from query_hits")},
            watermarks={k: v if isinstance(v, date) else date.fromisoformat(v)
                        for k, v in q("select query_id, until from watermarks")},
            runs=[(s, e, list(w) if isinstance(w, list) else _json_list(w))
                  for s, e, w in q("select status, error, warnings from runs order by id")],
        )
    engine.dispose()
    return state


def _json_list(value: object) -> list[str]:
    import json

    return list(json.loads(value)) if isinstance(value, str) else []


def assert_complete(db_url: str, expected: list[str], until: date = UNTIL) -> DbState:
    """Every expected PMID stored exactly once, assessed once, hit by the query; the watermark at `until`."""
    state = db_state(db_url)
    assert sorted(state.articles) == sorted(expected)
    assert state.versions == dict.fromkeys(expected, 1)
    assert state.assessments == dict.fromkeys(expected, 1)
    assert state.hits[QUERY] == frozenset(expected)
    assert state.watermarks == {QUERY: until}
    assert state.runs[-1][0] == "success"
    return state


def run(settings: Settings, request: RunRequest = REQUEST, **kwargs: object):  # noqa: ANN201 - RunSummary
    return Runner(settings, **kwargs).run(request)  # type: ignore[arg-type]


# --- transient faults: retried, then the run completes ---------------------------------------------------------

TRANSIENT = ["429", "429:0.02", "500", "502", "503", "reset", "error200", "empty", "html", "truncate", "slow:1.0"]


def read_timeout_for(kind: str) -> float:
    """Short only where the fault is a slow answer; elsewhere generous, so a busy CI machine does not time out
    a healthy request (a replay esearch over the real terms can take a few hundred ms under load)."""
    return 0.5 if kind.startswith("slow") else 10.0


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_fault_is_retried_and_the_run_completes(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str, kind: str
) -> None:
    """Two failures in a row on esearch (the count) and on efetch (batch 2): max_attempts 3 rides them out."""
    settings = settings_for(tmp_path, server.base_url, db_url, read_timeout=read_timeout_for(kind))
    expected = expected_ids(corpus, settings)
    server.faults.inject("esearch", kind, times=2)
    server.faults.inject("efetch", kind, times=2, after=1)
    summary = run(settings)
    assert summary.status == "success" and summary.new == len(expected) and not summary.warnings
    assert_complete(db_url, expected)
    # exactly two retries per faulted request: the client neither gave up early nor retried blindly
    assert server.stats.requests == {"esearch": CLEAN_ESEARCH + 2, "efetch": CLEAN_EFETCH + 2}
    assert server.stats.rate_violations == 0


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("429", r"HTTP 429"),
        ("503", r"HTTP 503"),
        ("reset", r"connection (error|broken)"),
        ("error200", r"<ERROR>Search Backend failed.*\(HTTP 200\)"),
        ("truncate", r"truncated XML .*\(HTTP 200\)"),
        ("slow:1.0", r"read timeout"),
    ],
)
def test_exhausted_retries_fail_the_run_keep_whole_batches_and_the_next_run_completes(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str, kind: str, cause: str
) -> None:
    # max_in_flight 1: `after=1` must hit batch 2, i.e. requests must arrive in batch order
    settings = settings_for(tmp_path, server.base_url, db_url, read_timeout=read_timeout_for(kind), max_in_flight=1)
    expected = expected_ids(corpus, settings)
    server.faults.inject("efetch", kind, times=None, after=1)  # batch 1 gets through, batch 2 never does
    line = rf"efetch batch 2 \(retstart {BATCH}.*failed after 3 attempts: {cause}"
    with pytest.raises(RunStepError, match=line) as info:
        run(settings)
    message = str(info.value)
    assert "\n" not in message and "a re-run resumes" in message
    assert isinstance(info.value.cause, EutilsTransientError)
    state = db_state(db_url)
    assert sorted(state.articles) == sorted(expected[:BATCH])  # exactly batch 1, nothing of batch 2
    assert state.watermarks == {}
    assert [(s, bool(e and "failed after 3 attempts" in e)) for s, e, _ in state.runs] == [("failed", True)]
    assert server.stats.rate_violations == 0

    server.faults.clear()
    summary = run(settings)
    assert summary.new == len(expected) - BATCH and summary.unchanged == BATCH
    state = assert_complete(db_url, expected)
    assert [s for s, _, _ in state.runs] == ["failed", "success"]


def test_esearch_failing_stores_nothing_and_the_next_run_completes(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    settings = settings_for(tmp_path, server.base_url, db_url)
    server.faults.inject("esearch", "500", times=3)
    with pytest.raises(RunStepError, match=r"esearch count for .* failed after 3 attempts: HTTP 500"):
        run(settings)
    assert db_state(db_url).articles == {}
    run(settings)
    assert_complete(db_url, expected_ids(corpus, settings))


@pytest.mark.parametrize("retry_after", [None, "0.05"])
def test_429_storm_of_ten_is_ridden_out_with_enough_retries(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str, retry_after: str | None
) -> None:
    settings = settings_for(tmp_path, server.base_url, db_url, max_attempts=12)
    kind = "429" if retry_after is None else f"429:{retry_after}"
    server.faults.inject("any", kind, times=10, after=1)  # the count passes, then ten 429s in a row
    run(settings)
    assert_complete(db_url, expected_ids(corpus, settings))
    assert sum(server.stats.requests.values()) == CLEAN_ESEARCH + CLEAN_EFETCH + 10
    assert server.stats.rate_violations == 0


def test_dns_failure_fails_with_one_line_and_the_next_run_completes(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    bad = settings_for(tmp_path, "http://litwatch-nonexistent.invalid/entrez/eutils/", db_url)
    with pytest.raises(EutilsUnreachable) as info:  # at once: a name that does not resolve is not worth retries
        run(bad)
    assert str(info.value) == (
        "cannot reach NCBI at http://litwatch-nonexistent.invalid/entrez/eutils/: host name "
        "litwatch-nonexistent.invalid does not resolve — check [ncbi] base_url or the network")
    state = db_state(db_url)
    assert state.articles == {} and state.watermarks == {} and state.runs[0][0] == "failed"
    run(settings_for(tmp_path, server.base_url, db_url))
    assert_complete(db_url, expected_ids(corpus, settings=bad))


# --- efetch answers that are "successful" but wrong -------------------------------------------------------------

def test_efetch_leaving_a_record_out_once_is_re_asked_by_id(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    # max_in_flight 1: the drop (`after=1`) must land on batch 2's request, i.e. requests arrive in batch order
    settings = settings_for(tmp_path, server.base_url, db_url, max_in_flight=1)
    expected = expected_ids(corpus, settings)
    missing = expected[BATCH + 3]  # in batch 2
    server.faults.inject("efetch", f"drop:{missing}", times=1, after=1)
    summary = run(settings)
    assert not summary.warnings
    assert_complete(db_url, expected)
    assert server.stats.requests["efetch"] == CLEAN_EFETCH + 1
    assert server.stats.last_params["id"] == missing  # the re-ask was by id, for exactly the missing one


def test_efetch_never_returning_a_record_warns_and_holds_the_watermark(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    settings = settings_for(tmp_path, server.base_url, db_url)
    expected = expected_ids(corpus, settings)
    missing = expected[5]
    server.faults.inject("efetch", f"drop:{missing}", times=None)
    summary = run(settings)
    assert summary.status == "success"
    assert len(summary.warnings) == 1
    assert f"1 PMID(s) listed by esearch were never returned by efetch ({missing})" in summary.warnings[0]
    state = db_state(db_url)
    assert sorted(state.articles) == sorted(p for p in expected if p != missing)
    assert state.watermarks == {}  # held: the next run re-asks the whole window
    assert state.runs[0][2] == list(summary.warnings)

    server.faults.clear()
    run(settings)
    assert_complete(db_url, expected)


def test_webenv_expired_mid_run_falls_back_to_id_lists(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    # max_in_flight 1: "every efetch after the second goes by id list" holds one request at a time; with several
    # in flight those already started may try the WebEnv once more (tests/pipeline/ncbi/test_batches.py covers that)
    settings = settings_for(tmp_path, server.base_url, db_url, max_in_flight=1)
    expected = expected_ids(corpus, settings)
    server.faults.inject("efetch", "webenv_expired", times=None, after=1)
    run(settings)
    assert_complete(db_url, expected)
    efetches = [p for p in server.stats.params_log if "retmode" in p and p.get("retmode") == "xml"]
    assert "WebEnv" in efetches[0] and all("id" in p for p in efetches[2:])
    assert server.stats.rate_violations == 0


def test_a_record_appearing_between_count_and_search_is_stored(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    """The count (plan) does not see it yet, the search does: the count only sizes the slices."""
    settings = settings_for(tmp_path, server.base_url, db_url)
    expected = expected_ids(corpus, settings)
    server.faults.inject("esearch", f"hide:{expected[0]}", times=1)
    summary = run(settings)
    assert summary.found == len(expected)
    assert_complete(db_url, expected)


def test_a_record_vanishing_between_count_and_search_is_not_invented(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    settings = settings_for(tmp_path, server.base_url, db_url)
    expected = expected_ids(corpus, settings)
    server.faults.inject("esearch", f"hide:{expected[0]}", times=1, after=1)
    summary = run(settings)
    assert summary.found == len(expected) - 1 and not summary.warnings
    assert sorted(db_state(db_url).articles) == sorted(expected[1:])


def test_a_record_added_late_with_an_older_create_date_is_caught_by_the_overlap(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    """PubMed indexes some records days after their Create date: the next run re-queries overlap_days."""
    settings = settings_for(tmp_path, server.base_url, db_url)
    expected = expected_ids(corpus, settings)
    late = "99000102"  # created 2026-11-17, inside the 14-day overlap of a run up to 2026-11-24
    assert late in expected and corpus.created(late) == date(2026, 11, 17)
    server.faults.inject("esearch", f"hide:{late}", times=None)
    run(settings)
    assert late not in db_state(db_url).articles
    server.faults.clear()
    next_day = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    run(settings, RunRequest(query_ids=(QUERY,), check_cited=False), clock=lambda: next_day)
    state = db_state(db_url)
    assert late in state.articles and sorted(state.articles) == sorted(expected)
    assert state.watermarks == {QUERY: date(2026, 11, 25)}


# --- NCBI moves to a new DTD (every January) ---------------------------------------------------------------------

class _CountingHandler(BaseHTTPRequestHandler):
    """Serves `body` for any path and counts requests: an attacker's (or NCBI's) DTD host on loopback."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server: Any = self.server
        server.paths.append(self.path)
        self.send_response(server.status)
        self.send_header("Content-Length", str(len(server.body)))
        self.end_headers()
        self.wfile.write(server.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def dtd_host() -> Iterator[Any]:
    """A DTD server on 127.0.0.1 serving a real PubMed DTD (Biopython's pubmed_250101.dtd) under any name."""
    import Bio.Entrez

    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    httpd.paths, httpd.status = [], 200
    httpd.body = (Path(Bio.Entrez.__file__).parent / "DTDs" / "pubmed_250101.dtd").read_bytes()
    thread = Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def doctype(url: str) -> str:
    return f'doctype:<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2027//EN" "{url}">'



NEW_DTD = "pubmed_270101.dtd"  # not bundled with Biopython 1.88


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (f"https://dtd.nlm.nih.gov/ncbi/pubmed/out/{NEW_DTD}", True),
        (f"http://dtd.nlm.nih.gov/ncbi/pubmed/out/{NEW_DTD}", False),  # not https
        (f"https://dtd.nlm.nih.gov.example.org/{NEW_DTD}", False),
        (f"https://user:pw@dtd.nlm.nih.gov/{NEW_DTD}", False),
        (f"https://127.0.0.1/{NEW_DTD}", False),
        ("file:///etc/passwd.dtd", False),
        (NEW_DTD, False),  # relative: resolved against nothing
    ],
)
def test_only_https_dtds_on_ncbis_dtd_host_may_be_downloaded(url: str, allowed: bool) -> None:
    assert is_ncbi_dtd_url(url) is allowed


def test_a_new_ncbi_dtd_is_downloaded_once_and_the_batch_parsed(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str, dtd_host: Any
) -> None:
    settings = settings_for(tmp_path, server.base_url, db_url)
    server.faults.inject("efetch", doctype(f"{dtd_host.url}/ncbi/pubmed/out/{NEW_DTD}"), times=None)
    local = lambda url: url.startswith(dtd_host.url + "/")  # noqa: E731 - the injected host check
    run(settings, dtd_url_allowed=local)
    assert_complete(db_url, expected_ids(corpus, settings))
    assert dtd_host.paths == [f"/ncbi/pubmed/out/{NEW_DTD}"]  # once: later batches find it in the cache
    cached = list((settings.cache_dir / "dtd").rglob(NEW_DTD))
    assert len(cached) == 1 and cached[0].read_bytes() == dtd_host.body
    assert not list((settings.cache_dir / "dtd").rglob("*.part"))


def test_a_failed_dtd_download_keeps_the_original_one_line_error_and_is_tried_once_per_run(
    tmp_path: Path, server: ReplayServer, sqlite_url: str, dtd_host: Any
) -> None:
    settings = settings_for(tmp_path, server.base_url, sqlite_url)
    dtd_host.status = 404
    server.faults.inject("efetch", doctype(f"{dtd_host.url}/{NEW_DTD}"), times=None)
    every_query = RunRequest(since=SINCE, until=UNTIL, check_cited=False)
    with pytest.raises(RunStepError, match=rf"efetch batch 1 .*: DTD {NEW_DTD} is not available offline") as info:
        run(settings, every_query, dtd_url_allowed=lambda url: True)
    assert isinstance(info.value.cause, DtdUnavailableError) and "\n" not in str(info.value)
    assert len(dtd_host.paths) == 1  # three queries failed on it; one download attempt
    assert db_state(sqlite_url).articles == {}


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"<!DOCTYPE html><html><body>Not Found</body></html>", "the answer is not a DTD"),
        (200, b"<!--" + b"x" * (3 * 2**20), "the answer is not a DTD"),
        (500, b"oops", r"downloading DTD .* failed: HTTP 500"),
    ],
)
def test_download_dtd_refuses_what_is_not_a_dtd(
    tmp_path: Path, dtd_host: Any, status: int, body: bytes, message: str
) -> None:
    dtd_host.status, dtd_host.body = status, body
    with pytest.raises(EutilsRequestError, match=message):
        download_dtd(f"{dtd_host.url}/{NEW_DTD}", tmp_path, allowed=lambda url: True)
    assert list(tmp_path.iterdir()) == []
