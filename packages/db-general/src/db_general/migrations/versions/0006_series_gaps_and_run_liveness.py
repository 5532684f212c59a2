"""Candles the exchange has none of (kline_gaps), and when a running sync last showed life
(sync_runs.touched_at)."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "kline_gaps",
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("interval", sa.String(), nullable=False),
        sa.Column("first_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("first_start <= last_start", name=op.f("ck_kline_gaps_ordered")),
        sa.PrimaryKeyConstraint("category", "symbol", "interval", "first_start", name=op.f("pk_kline_gaps")),
    )
    # Running rows existing now count as touched now: the sweep gives them their full time.
    op.add_column(
        "sync_runs",
        sa.Column("touched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index(
        "ix_sync_runs_running_touched_at",
        "sync_runs",
        ["touched_at"],
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("ix_sync_runs_running_touched_at", table_name="sync_runs")
    op.drop_column("sync_runs", "touched_at")
    op.drop_table("kline_gaps")
