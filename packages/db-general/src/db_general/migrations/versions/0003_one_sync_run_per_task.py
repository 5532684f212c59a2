"""sync_runs: one row per sync, a unique task id (a duplicated delivery can no longer open a second row).

Rows a duplicated delivery already split are merged first: the sync keeps its first row, with the
rows counted by all of them and the outcome of the newest.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

_SPLIT = """
    SELECT task_id, min(id) AS kept, max(id) AS newest, sum(rows) AS rows
    FROM sync_runs WHERE task_id IS NOT NULL GROUP BY task_id HAVING count(*) > 1
"""


def upgrade() -> None:
    op.execute(
        f"""
        UPDATE sync_runs AS run
        SET rows = split.rows, status = newest.status, error = newest.error,
            finished_at = newest.finished_at
        FROM ({_SPLIT}) AS split JOIN sync_runs AS newest ON newest.id = split.newest
        WHERE run.id = split.kept
        """  # noqa: S608 - fixed text
    )
    op.execute(
        f"""
        DELETE FROM sync_runs AS run USING ({_SPLIT}) AS split
        WHERE run.task_id = split.task_id AND run.id <> split.kept
        """  # noqa: S608 - fixed text
    )
    op.drop_index(
        "ix_sync_runs_running_task_id", table_name="sync_runs", postgresql_where=sa.text("status = 'running'")
    )
    op.create_unique_constraint(op.f("uq_sync_runs_task_id"), "sync_runs", ["task_id"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_sync_runs_task_id"), "sync_runs", type_="unique")
    op.create_index(
        "ix_sync_runs_running_task_id",
        "sync_runs",
        ["task_id"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )
