"""What each paper found and its stance per claim, stored with the assessment.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

`finding` (JSON: direction, controlled, outcomes with their quotes, the abstract's own statement) and `stances`
(JSON: per claim id, supports/contradicts/extends/outdates/unclear with a reason). Rows assessed before carry none;
a rule-set bump re-assesses them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("finding", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("stances", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("assessments") as batch:  # new rows always say their stances
        batch.alter_column("stances", server_default=None, existing_type=sa.JSON(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("stances")
        batch.drop_column("finding")
