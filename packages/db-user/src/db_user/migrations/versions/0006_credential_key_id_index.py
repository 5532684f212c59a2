"""An index on the master key id of stored credentials: readiness asks which key ids are in use
(``credential_key_ids``) on every round, which was a full scan of the table."""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index(op.f("ix_bybit_credentials_key_id"), "bybit_credentials", ["key_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bybit_credentials_key_id"), table_name="bybit_credentials")
