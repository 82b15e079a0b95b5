"""The trial registry (ClinicalTrials.gov): study snapshots, their versions, events per article, PMID links and
merged-id aliases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_studies",
        sa.Column("nct_id", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("gone_since", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("nct_id", name=op.f("pk_registry_studies")),
    )
    op.create_table(
        "registry_versions",
        sa.Column("nct_id", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_registry_versions_run_id_runs"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("nct_id", "version", name=op.f("pk_registry_versions")),
    )
    op.create_table(
        "registry_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article", sa.String(length=100), nullable=False),
        sa.Column("nct_id", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_registry_events_run_id_runs"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_events")),
        sa.UniqueConstraint("article", "nct_id", "kind", "key",
                            name=op.f("uq_registry_events_article_nct_id_kind_key")),
    )
    op.create_index(op.f("ix_registry_events_created_at"), "registry_events", ["created_at"])
    op.create_table(
        "registry_links",
        sa.Column("nct_id", sa.String(length=20), nullable=False),
        sa.Column("pmid", sa.String(length=20), nullable=False),
        sa.Column("ref_type", sa.String(length=20), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nct_id", "pmid", name=op.f("pk_registry_links")),
    )
    op.create_index(op.f("ix_registry_links_pmid"), "registry_links", ["pmid"])
    op.create_table(
        "registry_aliases",
        sa.Column("alias", sa.String(length=20), nullable=False),
        sa.Column("nct_id", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_registry_aliases")),
    )


def downgrade() -> None:
    op.drop_table("registry_aliases")
    op.drop_index(op.f("ix_registry_links_pmid"), table_name="registry_links")
    op.drop_table("registry_links")
    op.drop_index(op.f("ix_registry_events_created_at"), table_name="registry_events")
    op.drop_table("registry_events")
    op.drop_table("registry_versions")
    op.drop_table("registry_studies")
