"""sync_runs: the failed attempts of a sync, counted, and what the newest of them said."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"


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
