"""Initial schema of the general database: instruments, klines, sync runs."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "instruments",
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("base_coin", sa.String(), nullable=False),
        sa.Column("quote_coin", sa.String(), nullable=False),
        sa.Column("tick_size", sa.Numeric(), nullable=True),
        sa.Column("qty_step", sa.Numeric(), nullable=True),
        sa.Column("min_order_qty", sa.Numeric(), nullable=True),
        sa.Column("max_order_qty", sa.Numeric(), nullable=True),
        sa.Column("min_notional", sa.Numeric(), nullable=True),
        sa.Column("launch_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delisted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("category", "symbol", name=op.f("pk_instruments")),
    )
    op.create_index(
        "ix_instruments_base_coin_category_symbol",
        "instruments",
        ["base_coin", "category", "symbol"],
        unique=False,
    )
    op.create_index(
        "ix_instruments_category_status_symbol", "instruments", ["category", "status", "symbol"], unique=False
    )
    op.create_table(
        "klines",
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("interval", sa.String(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", sa.Numeric(), nullable=False),
        sa.Column("high", sa.Numeric(), nullable=False),
        sa.Column("low", sa.Numeric(), nullable=False),
        sa.Column("close", sa.Numeric(), nullable=False),
        sa.Column("volume", sa.Numeric(), nullable=False),
        sa.Column("turnover", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("category", "symbol", "interval", "start_time", name=op.f("pk_klines")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=True),
        sa.Column("interval", sa.String(), nullable=True),
        sa.Column("range_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("range_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("task_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), server_default="running", nullable=False),
        sa.Column("rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index("ix_sync_runs_kind_started_at", "sync_runs", ["kind", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_runs_kind_started_at", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("klines")
    op.drop_index("ix_instruments_category_status_symbol", table_name="instruments")
    op.drop_index("ix_instruments_base_coin_category_symbol", table_name="instruments")
    op.drop_table("instruments")
