"""Hostile input end to end: XML bombs and foreign DTDs in efetch bodies, script and bidi tricks in titles and
abstracts, a 50 MB efetch body, injection attempts in query files, secrets in the config file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as safe_et
import pytest
import sqlalchemy as sa

from litwatch.pipeline.digest_run import DigestRequest, make_digest
from litwatch.pipeline.errors import ParseError, RunStepError
from litwatch.pipeline.pubmed.dtd import DtdUnavailableError
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from tests.conftest import DOMAIN_RECORDS
from tests.test_end_to_end import make_settings
from tests.test_fault_matrix import (
    BATCH,
    QUERY,
    REQUEST,
    db_state,
    doctype,
    dtd_host,  # noqa: F401 - a fixture
    expected_ids,
    settings_for,
)

REPO = Path(__file__).resolve().parents[1]
HOSTILE_PMID = "25054402"  # a human clinical study on stem cells for discogenic pain: it reaches the digest


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.from_files([DOMAIN_RECORDS])


@pytest.fixture
def server(corpus: Corpus) -> Iterator[ReplayServer]:
    with ReplayServer(corpus, api_key_rate_limit=40.0) as srv:
        yield srv


def record_xml(pmid: str) -> bytes:
    data = DOMAIN_RECORDS.read_bytes()
    pattern = rb"<PubmedArticle>(?:(?!</PubmedArticle>).)*?<PMID Version=\"1\">" + pmid.encode() + rb"</PMID>.*?"
    return re.search(pattern + rb"</PubmedArticle>", data, re.S)[0]  # type: ignore[index]


# --- XML bombs, external entities, foreign DTDs ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["bomb", "xxe"])
def test_xml_bomb_in_an_efetch_body_fails_that_batch_only_without_memory_blowup(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str, kind: str
) -> None:
    # max_in_flight 1: `after=1` must make batch 2 the hostile one, i.e. requests arrive in batch order
    settings = settings_for(tmp_path, server.base_url, db_url, max_in_flight=1)
    expected = expected_ids(corpus, settings)
    server.faults.inject("efetch", kind, times=1, after=1)  # batch 2 is hostile
    tracemalloc.start()
    try:
        line = rf"query {QUERY} efetch batch 2 \(retstart {BATCH}\): refused a DOCTYPE with an internal DTD subset"
        with pytest.raises(RunStepError, match=line) as info:
            Runner(settings).run(REQUEST)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(info.value.cause, ParseError) and "\n" not in str(info.value)
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB while refusing an XML bomb"
    state = db_state(db_url)
    assert sorted(state.articles) == sorted(expected[:BATCH])  # batch 1 only: nothing from the hostile batch
    assert state.watermarks == {}
    Runner(settings).run(REQUEST)
    assert sorted(db_state(db_url).articles) == sorted(expected)


def test_a_dtd_on_a_foreign_host_is_never_downloaded(
    tmp_path: Path, server: ReplayServer, sqlite_url: str, dtd_host: Any  # noqa: F811 - the fixture
) -> None:
    """A DOCTYPE is input, not a download instruction: production only fetches from https://dtd.nlm.nih.gov."""
    settings = settings_for(tmp_path, server.base_url, sqlite_url)
    server.faults.inject("efetch", doctype(f"{dtd_host.url}/ncbi/pubmed/out/pubmed_270101.dtd"), times=None)
    with pytest.raises(RunStepError, match=r"efetch batch 1 .*DTD pubmed_270101\.dtd is not available offline") as info:
        Runner(settings).run(REQUEST)
    assert isinstance(info.value.cause, DtdUnavailableError)
    assert dtd_host.paths == []
    assert db_state(sqlite_url).articles == {}


# --- script, links, entities and bidi text: stored as text, rendered inert --------------------------------------

TITLE_PREFIX = "<script>alert('t')</script> \u202eevil\u202c "
ABSTRACT_PREFIX = '<a href="javascript:alert(1)">click</a> &lt;b&gt; \u05e9\u05dc\u05d5\u05dd '


def hostile_record() -> bytes:
    """25054402 with script, a javascript: link, a literal entity and right-to-left text in its title and abstract
    (all as XML text, as PubMed would send them escaped)."""
    from xml.sax.saxutils import escape

    rec = record_xml(HOSTILE_PMID)
    title = escape(TITLE_PREFIX).encode()
    rec = rec.replace(b"<ArticleTitle>", b"<ArticleTitle>" + title, 1)
    abstract = escape(ABSTRACT_PREFIX).encode()
    return rec.replace(b'NlmCategory="CONCLUSIONS">', b'NlmCategory="CONCLUSIONS">' + abstract, 1)


class _HtmlAudit(HTMLParser):
    """Collects tags, link targets, and whether right-to-left text sits inside a dir= element (bidi isolation)."""

    VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.stack: list[bool] = []
        self.rtl_outside_isolation = 0
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src", "action")]
        if tag not in self.VOID:
            self.stack.append(any(k == "dir" for k, _ in attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text += data
        if re.search("[\u0590-\u08ff]", data) and not any(self.stack):
            self.rtl_outside_isolation += 1


def test_script_links_entities_and_rtl_text_are_stored_verbatim_and_render_inert(
    tmp_path: Path, sqlite_url: str
) -> None:
    (tmp_path / "hostile.xml").write_bytes(b"<PubmedArticleSet>\n" + hostile_record() + b"\n</PubmedArticleSet>\n")
    corpus = Corpus.from_files([DOMAIN_RECORDS, tmp_path / "hostile.xml"])  # the later file wins
    with ReplayServer(corpus, api_key_rate_limit=40.0) as server:
        settings = settings_for(tmp_path, server.base_url, sqlite_url)
        Runner(settings).run(REQUEST)
    with session_scope(make_engine(sqlite_url)) as s:
        stored = repository.get_article(s, HOSTILE_PMID)
    assert stored is not None and stored.article.title.startswith(TITLE_PREFIX.rstrip())
    assert stored.assessment is not None and stored.assessment.verdict in ("update", "review")

    out = tmp_path / "digest"
    outcome = make_digest(settings, DigestRequest(all_time=True, out=out, formats=("html", "atom", "md", "json")))
    html = outcome.paths["html"].read_text(encoding="utf-8")
    audit = _HtmlAudit()
    audit.feed(html)
    assert "script" not in audit.tags and "<script" not in html.lower()
    assert not [h for h in audit.hrefs if not h.startswith(("https://", "mailto:", "#"))], audit.hrefs
    assert "<script>alert('t')</script>" in audit.text  # shown to the reader as text
    assert "\u05e9\u05dc\u05d5\u05dd" in audit.text and audit.rtl_outside_isolation == 0  # RTL text isolated

    atom = safe_et.fromstring(outcome.paths["atom"].read_bytes())
    ns = "{http://www.w3.org/2005/Atom}"
    titles = [e.text or "" for e in atom.iter(f"{ns}title")]
    assert any(t.startswith("<script>alert('t')</script> evil ") for t in titles)  # text, minus bidi controls
    assert all(e.get("type", "text") == "text" for e in atom.iter() if e.tag in (f"{ns}title", f"{ns}summary"))
    assert not [e.tag for e in atom.iter() if "script" in e.tag.lower()]
    assert all(e.get("href", "").startswith("https://") for e in atom.iter(f"{ns}link"))

    md = outcome.paths["md"].read_text(encoding="utf-8")
    for rendered in (html, outcome.paths["atom"].read_text(encoding="utf-8"), md):
        assert "\u202e" not in rendered and "\u202c" not in rendered  # bidi overrides never reach the reader
    # raw HTML in Markdown would reach a renderer: every "<" is backslash-escaped, no link goes to javascript:
    assert re.search(r"(?<!\\)<[A-Za-z/!?]", md) is None and "<script>" not in md
    assert "\\<script\\>" in md and not re.search(r"\]\(\s*javascript:", md, re.I)
    data = json.loads(outcome.paths["json"].read_text(encoding="utf-8"))
    assert "<script>alert('t')</script> evil" in json.dumps(data, ensure_ascii=False)  # data stays data


# --- 50 MB efetch body ---------------------------------------------------------------------------------------

_CHILD = r"""
import json, resource, sys
from datetime import date
from pathlib import Path
from litwatch.pipeline.config import load_settings
from litwatch.pipeline.ncbi import DateWindow
from litwatch.pipeline.pubmed.parse import parse_efetch
from litwatch.pipeline.runner import make_client
settings = load_settings(Path(sys.argv[1]), env={"NCBI_API_KEY": "k"})
client = make_client(settings)
window = DateWindow(date(2026, 3, 1), date(2026, 3, 31))
result = client.search(sys.argv[2], window)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
size = records = 0
for batch in client.fetch_batches(result, 10000):
    size += len(batch.body)
    records += len(parse_efetch(batch.body, f"batch {batch.index}").articles)
    del batch
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth": (peak - base) * 1024, "size": size, "records": records}))
"""


def test_a_50_mb_efetch_body_is_streamed_not_held_three_times(tmp_path: Path, sqlite_url: str) -> None:
    """One efetch answer of ~50 MB (50 records with ~1 MB abstracts: parse cost is per byte, not per record).

    Measured in a fresh process (ru_maxrss): the body once, the parsed records once (their text is ~the body),
    requests' join of the received chunks for a moment. A parser that held the document tree, or a decoded copy
    of the body, would add another 1-3x.
    """
    filler = b"The disc cells were followed for twelve months in this long abstract. " * 14_000
    big = record_xml(HOSTILE_PMID).replace(
        b'NlmCategory="RESULTS">', b'NlmCategory="RESULTS">' + filler, 1
    )
    (tmp_path / "big.xml").write_bytes(b"<PubmedArticleSet>\n" + big + b"\n</PubmedArticleSet>\n")
    corpus = Corpus.replicated(Corpus.from_files([tmp_path / "big.xml"]), 50, 50_000_000,
                               date(2026, 3, 1), date(2026, 3, 31))
    with ReplayServer(corpus, rate_limit=None, api_key_rate_limit=None) as server:
        settings = make_settings(tmp_path, server.base_url, sqlite_url, batch_size=10000, requests_per_second=100)
        done = subprocess.run([sys.executable, "-c", _CHILD, settings.source, '"stem cell*"[tiab]'],
                              capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    m = json.loads(done.stdout)
    assert m["records"] == 50 and m["size"] > 49_000_000
    assert m["growth"] < 2.5 * m["size"], f"peak RSS grew {m['growth'] / m['size']:.2f}x the body"


# --- query files and config -------------------------------------------------------------------------------------

INJECTIONS = [
    '"\'; DROP TABLE articles; --"',
    '"$(touch {canary})"',
    '"`touch {canary}`"',
    '"O\'Brien \\"quoted\\" %s %n {{x}}"',
]


def test_query_terms_with_injection_attempts_are_sent_as_text_only(
    tmp_path: Path, server: ReplayServer, sqlite_url: str
) -> None:
    article = REPO / "queries" / "stem-cell-lbp" / "article.toml"
    queries = tmp_path / "queries" / article.parent.name
    queries.mkdir(parents=True)
    shutil.copy(article, queries / "article.toml")
    canary = tmp_path / "canary"
    term = " OR ".join(i.format(canary=canary) for i in INJECTIONS) + ' OR "stem cell*"[tiab]'
    (queries / "hostile.toml").write_text(
        "id = \"hostile\"\nlabel = \"Robert'); DROP TABLE runs; -- <b>x</b>\"\nclaims = [\"overview\"]\n"
        f"term = '''{term}'''\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path, server.base_url, sqlite_url, requests_per_second=40.0)
    settings = settings.with_overrides(paths={"queries": str(tmp_path / "queries")})
    summary = Runner(settings).run(RunRequest(since=date(2026, 9, 1), until=date(2026, 11, 24), check_cited=False))
    assert summary.status == "success" and summary.found > 0
    sent = [p["term"] for p in server.stats.params_log if "term" in p]
    assert sent and all(t.startswith(f"({term}) AND ") for t in sent)  # exactly the term, as one parameter
    assert not canary.exists()
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"articles", "runs", "query_hits"} <= tables
        assert conn.execute(sa.text("select count(*) from articles")).scalar_one() == summary.found


@pytest.mark.parametrize(("section", "key", "value"), [("ncbi", "api_key", "FILE-KEY-1"),
                                                       ("mail", "password", "FILE-PW-2")])
def test_a_secret_in_the_config_file_is_warned_about_by_the_cli(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    cfg = tmp_path / "config.toml"
    body = f'[{section}]\n{key} = "{value}"\n' + ('email = "a@b.org"\n' if section == "ncbi" else "")
    if section != "ncbi":
        body += '[ncbi]\nemail = "a@b.org"\n'
    cfg.write_text(body + f'[storage]\ndata_dir = "{tmp_path}"\n[paths]\nqueries = "{REPO / "queries"}"\n')
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("LITWATCH_", "NCBI_", "SMTP_"))}
    cli = [sys.executable, "-m", "litwatch.pipeline.cli", "--config", str(cfg)]
    check = subprocess.run([*cli, "check"], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert check.returncode == 0, check.stderr
    warning = rf"\[{section}\] {key} is a secret and belongs in the environment"
    assert re.search(rf"^warning: .*{warning}", check.stdout, re.M), check.stdout  # printed by `check`
    assert re.search(rf"WARNING .*{warning}", check.stderr), check.stderr  # logged by every command
    assert value not in check.stdout + check.stderr
