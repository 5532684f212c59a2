"""Users' orders (stored before they are sent, moved only forward), each change's audit trail, and
the orders' executions (once per execId)."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("credential_id", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("order_link_id", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("order_type", sa.String(), nullable=False),
        sa.Column("qty", sa.Numeric(), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=True),
        sa.Column("time_in_force", sa.String(), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(), server_default="pending", nullable=False),
        sa.Column("bybit_order_id", sa.String(), nullable=True),
        sa.Column("bybit_status", sa.String(), nullable=True),
        sa.Column("filled_qty", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("avg_price", sa.Numeric(), nullable=True),
        sa.Column("reject_code", sa.Integer(), nullable=True),
        sa.Column("reject_reason", sa.String(), nullable=True),
        sa.Column("bybit_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "category IN ('spot', 'linear', 'inverse', 'option')", name=op.f("ck_orders_category")
        ),
        sa.CheckConstraint("order_type IN ('Market', 'Limit')", name=op.f("ck_orders_order_type")),
        sa.CheckConstraint("side IN ('Buy', 'Sell')", name=op.f("ck_orders_side")),
        sa.CheckConstraint(
            "state IN ('pending', 'pending_unknown', 'accepted', 'new', 'partially_filled', 'filled', 'cancelled', 'rejected', 'not_placed')",
            name=op.f("ck_orders_state"),
        ),
        sa.CheckConstraint(
            "time_in_force IN ('GTC', 'IOC', 'FOK', 'PostOnly', 'RPI')", name=op.f("ck_orders_time_in_force")
        ),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["bybit_credentials.id"],
            name=op.f("fk_orders_credential_id_bybit_credentials"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_link_id", name=op.f("uq_orders_order_link_id")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_orders_user_id_idempotency_key")),
    )
    op.create_index(op.f("ix_orders_credential_id"), "orders", ["credential_id"], unique=False)
    op.create_index(
        "ix_orders_unresolved",
        "orders",
        ["lease_until"],
        unique=False,
        postgresql_where=sa.text("state IN ('pending', 'pending_unknown')"),
    )
    op.create_index("ix_orders_user_id_id", "orders", ["user_id", "id"], unique=False)
    op.create_table(
        "executions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("exec_id", sa.String(), nullable=False),
        sa.Column("bybit_order_id", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("exec_price", sa.Numeric(), nullable=False),
        sa.Column("exec_qty", sa.Numeric(), nullable=False),
        sa.Column("exec_fee", sa.Numeric(), nullable=True),
        sa.Column("fee_currency", sa.String(), nullable=True),
        sa.Column("is_maker", sa.Boolean(), nullable=True),
        sa.Column("exec_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_executions_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_executions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
        sa.UniqueConstraint("exec_id", name=op.f("uq_executions_exec_id")),
    )
    op.create_index(op.f("ix_executions_order_id"), "executions", ["order_id"], unique=False)
    op.create_index("ix_executions_user_id_id", "executions", ["user_id", "id"], unique=False)
    op.create_table(
        "order_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("client_address", sa.String(), nullable=True),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    op.create_index(op.f("ix_order_events_order_id"), "order_events", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_order_events_order_id"), table_name="order_events")
    op.drop_table("order_events")
    op.drop_index("ix_executions_user_id_id", table_name="executions")
    op.drop_index(op.f("ix_executions_order_id"), table_name="executions")
    op.drop_table("executions")
    op.drop_index("ix_orders_user_id_id", table_name="orders")
    op.drop_index(
        "ix_orders_unresolved",
        table_name="orders",
        postgresql_where=sa.text("state IN ('pending', 'pending_unknown')"),
    )
    op.drop_index(op.f("ix_orders_credential_id"), table_name="orders")
    op.drop_table("orders")
