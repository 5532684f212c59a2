"""Bybit credentials may name the simulated exchange (the local fake) as their network."""

from alembic import op

revision = "0003"
down_revision = "0002"

_CHECK = "ck_bybit_credentials_network"


def upgrade() -> None:
    op.drop_constraint(op.f(_CHECK), "bybit_credentials", type_="check")
    op.create_check_constraint(
        op.f(_CHECK), "bybit_credentials", "network IN ('mainnet', 'testnet', 'demo', 'simulated')"
    )


def downgrade() -> None:
    # A credential of the simulated exchange has no place in the older schema.
    op.execute("DELETE FROM bybit_credentials WHERE network = 'simulated'")
    op.drop_constraint(op.f(_CHECK), "bybit_credentials", type_="check")
    op.create_check_constraint(op.f(_CHECK), "bybit_credentials", "network IN ('mainnet', 'testnet', 'demo')")
