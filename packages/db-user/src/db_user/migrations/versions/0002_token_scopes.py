"""API tokens get a scope and an optional expiry; every existing token becomes a user token."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # The server default fills the existing rows: tokens issued before scopes keep working as
    # user tokens, never gaining the operator's rights.
    op.add_column("api_tokens", sa.Column("scope", sa.String(), server_default="user", nullable=False))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_api_tokens_scope"), "api_tokens", "scope IN ('user', 'operator')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_tokens_scope"), "api_tokens", type_="check")
    op.drop_column("api_tokens", "expires_at")
    op.drop_column("api_tokens", "scope")
