"""Several watched articles, for real (replay server, SQLite/PostgreSQL, loopback SMTP): a verdict per (record,
article), stored records judged for an article added later, one digest per article, each to its own recipients."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.digest_run import DigestRequest, make_digest, make_digests
from litwatch.pipeline.errors import UsageError
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from tests.conftest import DOMAIN_RECORDS, KNEE_RECORDS, REPO, SmtpInbox
from tests.pipeline.conftest import ReplayFactory

SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 25)
LBP, TWIN, KNEE = "stem-cell-lbp", "lbp-twin", "knee-oa"
_EPOCH, _FUTURE = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _copy_article(queries: Path, slug: str, as_slug: str | None = None, recipients: list[str] | None = None) -> None:
    """queries/<slug> copied into `queries`; as `as_slug`, its searches renamed (ids are unique across articles)."""
    target = queries / (as_slug or slug)
    shutil.copytree(REPO / "queries" / slug, target)
    if as_slug is None:
        return
    article = target / "article.toml"
    text = article.read_text(encoding="utf-8").replace(f'slug = "{slug}"', f'slug = "{as_slug}"')
    if recipients:
        text = text.replace(f'slug = "{as_slug}"', f'slug = "{as_slug}"\nrecipients = {recipients!r}'.replace("'", '"'))
    article.write_text(text, encoding="utf-8")
    for search in target.glob("*.toml"):
        if search.name != "article.toml":
            body = search.read_text(encoding="utf-8")
            search.write_text(re.sub(r'^id = "([^"]+)"', r'id = "twin-\1"', body, flags=re.M), encoding="utf-8")


def _settings(tmp_path: Path, base_url: str, db_url: str, queries: Path, smtp_port: int = 25,
              mail: bool = False) -> Settings:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "tests@example.org"\nbatch_size = 50\n'
        f"backoff_base = 0.001\nmax_attempts = 2\nrequests_per_second = 200\n"
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{tmp_path}"\n'
        f'[paths]\nqueries = "{queries}"\n'
        "[registry]\nenabled = false\n[crossref]\nenabled = false\n"  # tests never reach clinicaltrials.gov or Crossref
        f'[digest]\nout_dir = "{tmp_path / "digests"}"\n'
        f'[mail]\nenabled = {"true" if mail else "false"}\nhost = "127.0.0.1"\nport = {smtp_port}\n'
        f'security = "none"\nsender = "litwatch@example.org"\nrecipients = ["writer@example.org"]\ntimeout = 5\n',
        encoding="utf-8",
    )
    return load_settings(cfg, env={})


@pytest.fixture
def replay(replay_factory: ReplayFactory) -> ReplayServer:
    """Both bundled articles' real records behind one E-utilities server."""
    return replay_factory(Corpus.from_files([DOMAIN_RECORDS, KNEE_RECORDS]), rate_limit=None,
                          api_key_rate_limit=None)


def _verdicts(db_url: str) -> dict[str, dict[str, str]]:
    """pmid -> {article slug: verdict} for every stored record."""
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as s:
            pmids = [row.article.pmid for row in repository.changed_between(s, _EPOCH, _FUTURE)]
            return {p: {slug: a.verdict for slug, a in repository.latest_assessments(s, p).items()} for p in pmids}
    finally:
        engine.dispose()


def test_a_record_two_articles_find_is_judged_for_each(tmp_path: Path, replay: ReplayServer, db_url: str) -> None:
    queries = tmp_path / "queries"
    _copy_article(queries, LBP)
    _copy_article(queries, LBP, as_slug=TWIN)  # the same searches under other ids: every record found by both
    summary = Runner(_settings(tmp_path, replay.base_url, db_url, queries)).run(
        RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    assert summary.status == "success" and summary.new > 0
    verdicts = _verdicts(db_url)
    assert len(verdicts) == summary.new  # each record stored once, however many searches found it
    for pmid, by_article in verdicts.items():
        assert set(by_article) == {LBP, TWIN}, pmid  # a verdict for each article, none lost
        assert by_article[LBP] == by_article[TWIN], pmid  # same topic, same rules: the same verdict


def test_an_article_added_later_judges_the_records_already_stored(tmp_path: Path, replay: ReplayServer,
                                                                  db_url: str) -> None:
    queries = tmp_path / "queries"
    _copy_article(queries, LBP)
    settings = _settings(tmp_path, replay.base_url, db_url, queries)
    first = Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    assert {frozenset(v) for v in _verdicts(db_url).values()} == {frozenset({LBP})}

    _copy_article(queries, LBP, as_slug=TWIN)
    second = Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    assert second.status == "success" and second.new == 0  # nothing fetched twice…
    verdicts = _verdicts(db_url)
    assert len(verdicts) == first.new
    assert all(set(v) == {LBP, TWIN} for v in verdicts.values())  # …and every stored record judged for the newcomer


def test_the_knee_and_back_articles_judge_and_digest_their_own_records(tmp_path: Path, replay: ReplayServer,
                                                                       db_url: str) -> None:
    settings = _settings(tmp_path, replay.base_url, db_url, REPO / "queries")  # the two bundled articles
    summary = Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=True))
    assert summary.status == "success"
    verdicts = _verdicts(db_url)
    knee_ma = verdicts["99200030"]  # 2025 meta-analysis of MSC injections for knee OA: news for the knee article
    assert knee_ma == {KNEE: "update"}  # the back-pain searches never found it: no verdict for that article
    disc_rct = verdicts["99000021"]
    assert disc_rct.get(LBP) == "update" and KNEE not in disc_rct

    outcomes = make_digests(settings, DigestRequest(all_time=True))
    assert [o.article for o in outcomes] == [KNEE, LBP]
    for o in outcomes:  # <out_dir>/<slug>/<week>.*
        assert {p.parent for p in o.paths.values()} == {tmp_path / "digests" / o.article}
    knee, back = (o.digest for o in outcomes)
    knee_pmids = {i.pmid for i in knee.action_needed + knee.worth_a_look + knee.for_awareness}
    back_pmids = {i.pmid for i in back.action_needed + back.worth_a_look + back.for_awareness}
    assert "99200030" in knee_pmids and "99200030" not in back_pmids
    assert "99000021" in back_pmids and "99000021" not in knee_pmids
    assert knee.article_title.startswith("New Cochrane review") and back.article_title.startswith("Stem Cell")

    only = make_digests(settings, DigestRequest(all_time=True, dry_run=True, article=KNEE))
    assert [o.article for o in only] == [KNEE]
    with pytest.raises(UsageError, match=r"2 articles are watched: name one with --article SLUG \(knee-oa, "
                                         r"stem-cell-lbp\)"):
        make_digest(settings, DigestRequest(all_time=True, dry_run=True))
    with pytest.raises(UsageError, match=r"--article nope: no such watched article"):
        make_digests(settings, DigestRequest(all_time=True, dry_run=True, article="nope"))


def test_each_article_mails_its_own_recipients(tmp_path: Path, replay: ReplayServer, sqlite_url: str,
                                               smtp_server: tuple[SmtpInbox, int]) -> None:
    handler, port = smtp_server
    queries = tmp_path / "queries"
    _copy_article(queries, LBP)
    _copy_article(queries, LBP, as_slug=TWIN, recipients=["twin-writer@example.org"])
    settings = _settings(tmp_path, replay.base_url, sqlite_url, queries, smtp_port=port, mail=True)
    Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    outcomes = make_digests(settings, DigestRequest(all_time=True, send=True))
    assert {o.article: o.sent_to for o in outcomes} == {LBP: ("writer@example.org",),
                                                        TWIN: ("twin-writer@example.org",)}
    assert sorted(tuple(rcpt) for _, rcpt, _ in handler.received) == [("twin-writer@example.org",),
                                                                      ("writer@example.org",)]


