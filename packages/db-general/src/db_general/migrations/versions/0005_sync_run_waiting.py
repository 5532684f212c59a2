"""sync_runs: what a running sync waits for, in words of its own (no longer in ``error``)."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("sync_runs", sa.Column("waiting", sa.String(), nullable=True))
    # A running row's error held what it waited for; its next start would clear it anyway.
    op.execute(
        "UPDATE sync_runs SET waiting = error, error = NULL WHERE status = 'running' AND error IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE sync_runs SET error = waiting WHERE status = 'running' AND waiting IS NOT NULL")
    op.drop_column("sync_runs", "waiting")
