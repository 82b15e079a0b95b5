"""Verdicts, cited-study checks and digests per watched article.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Until now litwatch watched one article and its rows carried none. Each of these tables gains `article` (the
article's slug). Existing rows belong to the only article there was, the bundled low-back-pain one
(`stem-cell-lbp`): a database that watched another folder can re-point them with one UPDATE, said in
docs/watching-an-article.md. The assessments' unique key becomes (article, pmid, content, rule set), so one
record is judged once per article that watches it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The slug of the one article every database held before this revision (queries/stem-cell-lbp/).
LEGACY_ARTICLE = "stem-cell-lbp"


def _add_article_column(table: str) -> None:
    # server_default fills the existing rows on every backend; it is dropped afterwards so that new rows must
    # say which article they belong to.
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("article", sa.String(length=100), nullable=False,
                                   server_default=LEGACY_ARTICLE))
    with op.batch_alter_table(table) as batch:
        batch.alter_column("article", server_default=None, existing_type=sa.String(length=100),
                           existing_nullable=False)


def upgrade() -> None:
    _add_article_column("assessments")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_constraint("uq_assessments_pmid_content_hash_ruleset_version", type_="unique")
        batch.drop_index("ix_assessments_pmid_assessed_at")
        batch.create_unique_constraint(
            "uq_assessments_article_pmid_content_hash_ruleset_version",
            ["article", "pmid", "content_hash", "ruleset_version"],
        )
        batch.create_index("ix_assessments_article_pmid_assessed_at", ["article", "pmid", "assessed_at"])
        batch.create_index("ix_assessments_pmid", ["pmid"])

    _add_article_column("cited_checks")
    with op.batch_alter_table("cited_checks") as batch:
        batch.drop_index("ix_cited_checks_study_id_checked_at")
        batch.create_index("ix_cited_checks_article_study_id_checked_at", ["article", "study_id", "checked_at"])

    _add_article_column("digests")
    with op.batch_alter_table("digests") as batch:
        batch.create_index("ix_digests_article", ["article"])


def downgrade() -> None:
    # Rows of other articles cannot live in the one-article schema: they are removed, the legacy article's kept.
    for table in ("assessments", "cited_checks", "digests"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE article <> :slug").bindparams(slug=LEGACY_ARTICLE))
    with op.batch_alter_table("digests") as batch:
        batch.drop_index("ix_digests_article")
        batch.drop_column("article")
    with op.batch_alter_table("cited_checks") as batch:
        batch.drop_index("ix_cited_checks_article_study_id_checked_at")
        batch.create_index("ix_cited_checks_study_id_checked_at", ["study_id", "checked_at"])
        batch.drop_column("article")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_constraint("uq_assessments_article_pmid_content_hash_ruleset_version", type_="unique")
        batch.drop_index("ix_assessments_article_pmid_assessed_at")
        batch.drop_index("ix_assessments_pmid")
        batch.create_unique_constraint(
            "uq_assessments_pmid_content_hash_ruleset_version", ["pmid", "content_hash", "ruleset_version"]
        )
        batch.create_index("ix_assessments_pmid_assessed_at", ["pmid", "assessed_at"])
        batch.drop_column("article")
