"""SQLAlchemy 2.x models: the tables litwatch keeps. The Alembic migrations in `storage/migrations` mirror
this file (a test compares them). Timestamps are stored as naive UTC and read back as aware UTC everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python: SQLite drops offsets, so storing UTC keeps both
    backends equal. A naive value handed in is taken to be UTC already."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# Named constraints so that migrations can drop them by name on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), list[Any]: sa.JSON()}


class ArticleRow(Base):
    """The current version of each PubMed record; `record` is `Article.to_dict()`, the rest serve queries."""

    __tablename__ = "articles"

    pmid: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.Text)
    journal: Mapped[str] = mapped_column(sa.Text)
    pub_year: Mapped[int | None]
    created: Mapped[date | None] = mapped_column(index=True)
    doi: Mapped[str | None] = mapped_column(sa.String(255), index=True)  # cited-study checks look DOIs up
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    record: Mapped[dict[str, Any]]
    first_seen: Mapped[datetime] = mapped_column(index=True)
    last_seen: Mapped[datetime]
    last_changed: Mapped[datetime] = mapped_column(index=True)
    deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None]


class ArticleVersionRow(Base):
    """Every distinct content ever seen for a PMID (late lower versions too), with its first sighting."""

    __tablename__ = "article_versions"
    __table_args__ = (sa.UniqueConstraint("pmid", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pmid: Mapped[str] = mapped_column(sa.ForeignKey("articles.pmid", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int]
    seen_at: Mapped[datetime]
    record: Mapped[dict[str, Any]]


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    trigger: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(10))  # running / success / failed
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    window_start: Mapped[date | None]
    window_end: Mapped[date | None]
    found: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]


class QueryRunRow(Base):
    """One saved search within one run."""

    __tablename__ = "query_runs"

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    query_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    window_start: Mapped[date | None]
    window_end: Mapped[date | None]
    status: Mapped[str] = mapped_column(sa.String(10))  # running / success / failed / skipped
    found: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)


class QueryHitRow(Base):
    """Which saved search found which PMID in which run. No FK to articles: esearch ids are recorded before
    fetch, and a PMID deleted upstream may never be stored."""

    __tablename__ = "query_hits"
    __table_args__ = (sa.UniqueConstraint("query_id", "pmid", "run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    query_id: Mapped[str] = mapped_column(sa.String(100))
    pmid: Mapped[str] = mapped_column(sa.String(20), index=True)


class WatermarkRow(Base):
    __tablename__ = "watermarks"

    query_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    until: Mapped[date]
    updated_at: Mapped[datetime]
    last_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))


class BackfillSliceRow(Base):
    """A date slice of a backfill window whose every listed record was stored: a re-run skips it."""

    __tablename__ = "backfill_slices"

    query_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    term_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # a changed term starts afresh
    slice_start: Mapped[date] = mapped_column(primary_key=True)
    slice_end: Mapped[date] = mapped_column(primary_key=True)
    records: Mapped[int]
    completed_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))


class RunLockRow(Base):
    """Who holds the run lock. `token` is private to one acquisition so that a holder whose lock was taken
    over (stale heartbeat) can neither heartbeat nor release the new holder's lock."""

    __tablename__ = "run_lock"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(255))
    token: Mapped[str] = mapped_column(sa.String(32))
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


# --- assessment and digest (second migration) ---------------------------------------------------------------


class AssessmentRow(Base):
    """One verdict on one content of a record, for one watched article (`article`: its slug), under one rule set."""

    __tablename__ = "assessments"
    __table_args__ = (
        sa.UniqueConstraint("article", "pmid", "content_hash", "ruleset_version"),
        sa.Index("ix_assessments_article_pmid_assessed_at", "article", "pmid", "assessed_at"),
        sa.Index("ix_assessments_pmid", "pmid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article: Mapped[str] = mapped_column(sa.String(100))
    pmid: Mapped[str] = mapped_column(sa.ForeignKey("articles.pmid", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    record_version: Mapped[int]
    ruleset_version: Mapped[str] = mapped_column(sa.String(40))
    verdict: Mapped[str] = mapped_column(sa.String(10))
    design: Mapped[str] = mapped_column(sa.String(40))
    population: Mapped[str] = mapped_column(sa.String(20))
    condition: Mapped[str] = mapped_column(sa.String(40))
    interventions: Mapped[list[Any]]
    claims: Mapped[list[Any]]
    reasons: Mapped[list[Any]]
    sample_size: Mapped[int | None]
    follow_up_months: Mapped[float | None]
    cited_study: Mapped[str | None] = mapped_column(sa.String(100))
    assessed_at: Mapped[datetime]
    finding: Mapped[dict[str, Any] | None]  # `Finding` as JSON: what the paper found (migration 0005)
    stances: Mapped[list[Any]] = mapped_column(default=list)  # `ClaimStance`s as JSON


class CitedCheckRow(Base):
    """One check of one study the watched article cites; `content_hash`: the stored content it saw."""

    __tablename__ = "cited_checks"
    __table_args__ = (sa.Index("ix_cited_checks_article_study_id_checked_at", "article", "study_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article: Mapped[str] = mapped_column(sa.String(100))  # study ids are unique within one article only
    study_id: Mapped[str] = mapped_column(sa.String(100))
    label: Mapped[str] = mapped_column(sa.Text)
    pmid: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))
    notes: Mapped[list[Any]]
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))
    checked_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))


class DigestRow(Base):
    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    article: Mapped[str] = mapped_column(sa.String(100), index=True)  # one digest per watched article
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(index=True)
    paths: Mapped[dict[str, Any]]  # format -> file path
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(sa.Text)
    item_keys: Mapped[list[Any]]  # [[pmid, content_hash], ...] so that a later digest does not repeat an item


# ---- the trial registry (ClinicalTrials.gov; storage.registry) ------------------------------------------------

class RegistryStudyRow(Base):
    """The newest snapshot of each registry study seen (`summary`: pipeline.registry.study.summarize's dict)."""

    __tablename__ = "registry_studies"

    nct_id: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    summary: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    gone_since: Mapped[datetime | None]  # the registry answered 404 for it (a followed trial that disappeared)


class RegistryVersionRow(Base):
    """Every distinct snapshot of a study, in order: events come from diffing consecutive ones."""

    __tablename__ = "registry_versions"

    nct_id: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    summary: Mapped[dict[str, Any]]
    seen_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))


class RegistryEventRow(Base):
    """One registry event for one watched article, once: (article, nct_id, kind, key) is unique."""

    __tablename__ = "registry_events"
    __table_args__ = (sa.UniqueConstraint("article", "nct_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article: Mapped[str] = mapped_column(sa.String(100))
    nct_id: Mapped[str] = mapped_column(sa.String(20))
    kind: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(200))
    before: Mapped[str | None] = mapped_column(sa.Text)
    after: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any]]
    verdict: Mapped[str] = mapped_column(sa.String(10))
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))


class RegistryLinkRow(Base):
    """A PMID a study's referencesModule lists: the trial → paper and paper → trial link."""

    __tablename__ = "registry_links"

    nct_id: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    pmid: Mapped[str] = mapped_column(sa.String(20), primary_key=True, index=True)
    ref_type: Mapped[str | None] = mapped_column(sa.String(20))
    first_seen_at: Mapped[datetime]


class RegistryAliasRow(Base):
    """An NCT id the registry redirects (HTTP 301) to another study: a merged registration."""

    __tablename__ = "registry_aliases"

    alias: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    nct_id: Mapped[str] = mapped_column(sa.String(20))
    recorded_at: Mapped[datetime]


# ---- the editor console (storage.console; migration 0007) ------------------------------------------------------

class UserRow(Base):
    """A console user. `password_hash` is scrypt's self-describing string; `token_hash` the SHA-256 of the API
    token (a random 32-byte token needs no slow hash: it cannot be guessed from a dictionary)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    role: Mapped[str] = mapped_column(sa.String(10))  # admin / editor / writer
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    token_created_at: Mapped[datetime | None]


class DecisionRow(Base):
    """One triage decision on one record for one watched article: append-only (the audit trail); an item's status
    is its newest row. `user` is the name, not a key: the trail outlives a removed account."""

    __tablename__ = "decisions"
    __table_args__ = (sa.Index("ix_decisions_article_pmid_at", "article", "pmid", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article: Mapped[str] = mapped_column(sa.String(100))
    pmid: Mapped[str] = mapped_column(sa.String(20))
    from_status: Mapped[str] = mapped_column(sa.String(20))
    decision: Mapped[str] = mapped_column(sa.String(20))  # open / reviewed / article-updated / dismissed
    reason: Mapped[str | None] = mapped_column(sa.String(40))  # dismiss only: one of storage.console.DISMISS_REASONS
    note: Mapped[str] = mapped_column(sa.Text, default="")
    user: Mapped[str] = mapped_column(sa.String(100))
    at: Mapped[datetime]


__all__ = [
    "ArticleRow",
    "ArticleVersionRow",
    "AssessmentRow",
    "BackfillSliceRow",
    "Base",
    "CitedCheckRow",
    "DecisionRow",
    "DigestRow",
    "QueryHitRow",
    "QueryRunRow",
    "RegistryAliasRow",
    "RegistryEventRow",
    "RegistryLinkRow",
    "RegistryStudyRow",
    "RegistryVersionRow",
    "RunLockRow",
    "RunRow",
    "UTCDateTime",
    "UserRow",
    "WatermarkRow",
]
