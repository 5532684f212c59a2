"""sync_runs: find the running row of a task id by index (every chunk of a sync looks it up)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


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
