"""Storage test helpers: a migrated engine on each backend, and hand-built Articles (storage must not need the
parser)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from litwatch.storage.engine import make_engine
from litwatch.storage.migrate import upgrade
from litwatch.storage.records import AbstractSection, Article, Assessment, Author, PublicationType

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    """A point in time `hours` after T0 (aware UTC, as the runner passes them)."""
    return T0 + timedelta(hours=hours)


def article(pmid: str, version: int = 1, title: str | None = None, **extra: object) -> Article:
    return Article(
        pmid=pmid,
        version=version,
        status="Publisher",
        title=title if title is not None else f"Mesenchymal stem cells for disc degeneration ({pmid})",
        abstract=(
            AbstractSection(
                text="Twelve patients were treated.", html="Twelve patients were treated.", label="METHODS"
            ),
        ),
        journal="JOR Spine",
        pub_year=2026,
        created=date(2026, 10, 30),
        doi=f"10.1000/{pmid}",
        authors=(Author(name="Vadalà G", last_name="Vadalà", initials="G"),),
        publication_types=(PublicationType(ui="D016428", name="Journal Article"),),
        **extra,  # type: ignore[arg-type]
    )


def assessment(pmid: str, verdict: str = "review", ruleset: str = "r1", content_hash: str = "",
               article: str = "stem-cell-lbp") -> Assessment:
    """A verdict on record `pmid` for one watched article (`article`, its slug)."""
    return Assessment(pmid=pmid, verdict=verdict, design="rct", population="human",  # type: ignore[arg-type]
                      condition="discogenic-lbp", reasons=("randomized controlled trial in humans",),
                      ruleset_version=ruleset, content_hash=content_hash, interventions=("stem-cells",),
                      claims=("safety",), sample_size=60, follow_up_months=24.0, article=article)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database on the backend `db_url` names (SQLite file or a private PostgreSQL schema)."""
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
