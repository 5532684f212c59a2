"""sync_runs: the failed attempts of a sync, counted, and what the newest of them said.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sync_runs", sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "sync_runs",
        sa.Column(
            "attempt_errors",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("sync_runs", "attempt_errors")
    op.drop_column("sync_runs", "failed_attempts")
