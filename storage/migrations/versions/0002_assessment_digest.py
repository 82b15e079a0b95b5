"""Assessment and digest tables: assessments (history per content and rule set), cited-study checks, digests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-20

A separate revision from the ingestion tables so that an existing ingestion database upgrades with its rows
intact (tested), and so that `downgrade` by one step removes only these tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pmid", sa.String(length=20), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=False),
        sa.Column("ruleset_version", sa.String(length=40), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("design", sa.String(length=40), nullable=False),
        sa.Column("population", sa.String(length=20), nullable=False),
        sa.Column("condition", sa.String(length=40), nullable=False),
        sa.Column("interventions", sa.JSON(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=True),
        sa.Column("follow_up_months", sa.Double(), nullable=True),
        sa.Column("cited_study", sa.String(length=100), nullable=True),
        sa.Column("assessed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pmid"], ["articles.pmid"], name=op.f("fk_assessments_pmid_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint(
            "pmid",
            "content_hash",
            "ruleset_version",
            name=op.f("uq_assessments_pmid_content_hash_ruleset_version"),
        ),
    )
    op.create_index("ix_assessments_pmid_assessed_at", "assessments", ["pmid", "assessed_at"], unique=False)
    op.create_table(
        "cited_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.String(length=100), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("pmid", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_cited_checks_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cited_checks")),
    )
    op.create_index(
        "ix_cited_checks_study_id_checked_at", "cited_checks", ["study_id", "checked_at"], unique=False
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("period_end", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("paths", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("item_keys", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
    )
    op.create_index(op.f("ix_digests_created_at"), "digests", ["created_at"], unique=False)
    op.create_index(op.f("ix_digests_sent_at"), "digests", ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_digests_sent_at"), table_name="digests")
    op.drop_index(op.f("ix_digests_created_at"), table_name="digests")
    op.drop_table("digests")
    op.drop_index("ix_cited_checks_study_id_checked_at", table_name="cited_checks")
    op.drop_table("cited_checks")
    op.drop_index("ix_assessments_pmid_assessed_at", table_name="assessments")
    op.drop_table("assessments")
