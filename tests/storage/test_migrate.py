"""storage.migrate and the Alembic revisions: empty → head on both backends, models and migrations agree,
data survives an upgrade, downgrade works one step at a time, everything lives in the connection's schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import HEAD_REVISION, current, downgrade, head, upgrade
from litwatch.storage.repository import get_article, start_run, upsert_articles
from litwatch.storage.schema import Base
from tests.storage.conftest import article, at

INGESTION = {"articles", "article_versions", "query_hits", "query_runs", "runs", "run_lock", "watermarks"}
ASSESSMENT = {"assessments", "cited_checks", "digests"}
BACKFILL = {"backfill_slices"}
REGISTRY = {"registry_studies", "registry_versions", "registry_events", "registry_links", "registry_aliases"}
CONSOLE = {"users", "decisions"}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_empty_to_head_matches_models(db_url: str) -> None:
    assert current(db_url) is None
    assert upgrade(db_url) == head() == "0007"
    assert _tables(db_url) == INGESTION | ASSESSMENT | BACKFILL | REGISTRY | CONSOLE
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    upgrade(db_url)
    assert upgrade(db_url) == head()


def test_version_table_lives_in_the_connection_schema(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            schema = conn.execute(sa.text("select current_schema()")).scalar_one()
            assert schema.startswith("lw_")  # the private schema from the URL's search_path, not "public"
            where = conn.execute(
                sa.text(
                    "select table_schema from information_schema.tables where table_name = 'alembic_version'"
                    " and table_schema = :s"
                ),
                {"s": schema},
            ).all()
            assert len(where) == 1
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar_one() == head()
    engine.dispose()


def test_upgrade_from_first_revision_keeps_rows(db_url: str) -> None:
    assert upgrade(db_url, "0001") == "0001"
    assert _tables(db_url) == INGESTION
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        upsert_articles(s, [article("1"), article("2")], at(0))
        run_id = start_run(
            s, kind="fetch", trigger="manual", window_start=None, window_end=None, started_at=at(0)
        )
    assert upgrade(engine) == head()
    with session_scope(engine) as s:
        assert {get_article(s, p).article.pmid for p in ("1", "2")} == {"1", "2"}  # type: ignore[union-attr]
        assert s.execute(sa.text("select count(*) from runs where id = :i"), {"i": run_id}).scalar_one() == 1
    engine.dispose()


def test_downgrade_one_step_then_up_again(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        upsert_articles(s, [article("1")], at(0))
    assert downgrade(engine) == "0006"
    assert _tables(db_url) == INGESTION | ASSESSMENT | BACKFILL | REGISTRY  # only the console's tables went
    assert downgrade(engine) == "0005"
    assert _tables(db_url) == INGESTION | ASSESSMENT | BACKFILL  # only the registry revision's tables went
    assert downgrade(engine) == "0004"
    assert downgrade(engine) == "0003"
    assert downgrade(engine) == "0002"
    assert current(engine) == "0002"
    assert _tables(db_url) == INGESTION | ASSESSMENT  # only the backfill revision's table went
    assert downgrade(engine) == "0001"
    assert _tables(db_url) == INGESTION
    with engine.connect() as conn:  # (get_article needs the assessment tables, so count by hand)
        assert conn.execute(sa.text("select count(*) from articles")).scalar_one() == 1
    assert downgrade(engine) is None
    assert _tables(db_url) == set()
    assert upgrade(engine) == head()
    engine.dispose()


def test_head_revision_constant_matches_the_scripts() -> None:
    assert HEAD_REVISION == head()


_PROBE = (
    "import sys; from litwatch.storage.migrate import upgrade; rev = upgrade(sys.argv[1]); "
    "print(rev, 'alembic' in sys.modules)"
)


def test_upgrade_at_head_never_imports_alembic(db_url: str) -> None:
    """Every command upgrades first: at head that is one read of the version row, not Alembic's import."""
    def probe() -> str:
        done = subprocess.run([sys.executable, "-c", _PROBE, db_url], capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert probe() == f"{HEAD_REVISION} True"  # empty database: Alembic creates the schema
    assert probe() == f"{HEAD_REVISION} False"  # at head: Alembic is not even imported
    downgrade(db_url)
    assert probe() == f"{HEAD_REVISION} True"  # one revision behind: Alembic upgrades it
    assert current(db_url) == HEAD_REVISION


def test_upgrade_to_per_article_moves_verdicts_checks_and_digests_to_the_one_article(db_url: str) -> None:
    """0004: rows written when litwatch watched one article belong to it (stem-cell-lbp) after the upgrade, and the
    same record can then carry a verdict per article."""
    from litwatch.storage.repository import latest_assessments, save_assessment
    from tests.storage.conftest import assessment

    assert upgrade(db_url, "0003") == "0003"
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        upsert_articles(s, [article("1")], at(0))
        s.execute(sa.text(
            "insert into assessments (pmid, content_hash, record_version, ruleset_version, verdict, design, "
            "population, condition, interventions, claims, reasons, assessed_at) values ('1', "
            "(select content_hash from articles where pmid = '1'), 1, 'r1', 'update', 'rct', 'human', 'x', "
            "'[]', '[]', '[]', :at)"), {"at": at(1).replace(tzinfo=None)})
        s.execute(sa.text("insert into cited_checks (study_id, label, status, notes, checked_at) values "
                          "('dream-2025', 'DREAM', 'unchanged', '[]', :at)"), {"at": at(1).replace(tzinfo=None)})
    assert upgrade(engine) == head()
    with session_scope(engine) as s:
        for table in ("assessments", "cited_checks"):
            assert s.execute(sa.text(f"select article from {table}")).scalars().all() == ["stem-cell-lbp"]
        save_assessment(s, assessment("1", verdict="fyi", article="knee-oa"), at(2))
    with session_scope(engine) as s:
        latest = latest_assessments(s, "1")
        assert {slug: a.verdict for slug, a in latest.items()} == {"knee-oa": "fyi", "stem-cell-lbp": "update"}
    engine.dispose()
