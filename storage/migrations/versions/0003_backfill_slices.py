"""Backfill progress: the date slices of a backfill window that were fetched, stored and reconciled in full.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

A backfill over decades takes hours; a re-run after a crash or a stop skips the slices recorded here (for the same
query and the same term) instead of fetching the whole window again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_slices",
        sa.Column("query_id", sa.String(length=100), nullable=False),
        sa.Column("term_hash", sa.String(length=64), nullable=False),
        sa.Column("slice_start", sa.Date(), nullable=False),
        sa.Column("slice_end", sa.Date(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("query_id", "term_hash", "slice_start", "slice_end"),
    )


def downgrade() -> None:
    op.drop_table("backfill_slices")
