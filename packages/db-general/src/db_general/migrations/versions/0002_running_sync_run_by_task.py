"""sync_runs: find the running row of a task id by index (every chunk of a sync looks it up).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_sync_runs_running_task_id",
        "sync_runs",
        ["task_id"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_sync_runs_running_task_id", table_name="sync_runs", postgresql_where=sa.text("status = 'running'")
    )
