"""Ingestion tables: articles and their history, runs, query runs and hits, watermarks, the run lock.

Revision ID: 0001
Revises:
Create Date: 2026-11-20

Column types are spelled out here (plain DateTime, not storage.schema.UTCDateTime) so that this revision never
changes when the models do; tests/storage/test_migrations.py checks that models and migrations agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("pmid", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("journal", sa.Text(), nullable=False),
        sa.Column("pub_year", sa.Integer(), nullable=True),
        sa.Column("created", sa.Date(), nullable=True),
        sa.Column("doi", sa.String(length=255), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("last_changed", sa.DateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pmid", name=op.f("pk_articles")),
    )
    op.create_index(op.f("ix_articles_created"), "articles", ["created"], unique=False)
    op.create_index(op.f("ix_articles_doi"), "articles", ["doi"], unique=False)
    op.create_index(op.f("ix_articles_first_seen"), "articles", ["first_seen"], unique=False)
    op.create_index(op.f("ix_articles_last_changed"), "articles", ["last_changed"], unique=False)
    op.create_table(
        "run_lock",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_run_lock")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_started_at"), "runs", ["started_at"], unique=False)
    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pmid", sa.String(length=20), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pmid"], ["articles.pmid"], name=op.f("fk_article_versions_pmid_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_versions")),
        sa.UniqueConstraint("pmid", "content_hash", name=op.f("uq_article_versions_pmid_content_hash")),
    )
    op.create_table(
        "query_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.String(length=100), nullable=False),
        sa.Column("pmid", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_query_hits_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_hits")),
        sa.UniqueConstraint("query_id", "pmid", "run_id", name=op.f("uq_query_hits_query_id_pmid_run_id")),
    )
    op.create_index(op.f("ix_query_hits_pmid"), "query_hits", ["pmid"], unique=False)
    op.create_table(
        "query_runs",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.String(length=100), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_query_runs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "query_id", name=op.f("pk_query_runs")),
    )
    op.create_table(
        "watermarks",
        sa.Column("query_id", sa.String(length=100), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["last_run_id"], ["runs.id"], name=op.f("fk_watermarks_last_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("query_id", name=op.f("pk_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("watermarks")
    op.drop_table("query_runs")
    op.drop_index(op.f("ix_query_hits_pmid"), table_name="query_hits")
    op.drop_table("query_hits")
    op.drop_table("article_versions")
    op.drop_index(op.f("ix_runs_started_at"), table_name="runs")
    op.drop_table("runs")
    op.drop_table("run_lock")
    op.drop_index(op.f("ix_articles_last_changed"), table_name="articles")
    op.drop_index(op.f("ix_articles_first_seen"), table_name="articles")
    op.drop_index(op.f("ix_articles_doi"), table_name="articles")
    op.drop_index(op.f("ix_articles_created"), table_name="articles")
    op.drop_table("articles")
