"""The user database's tables: users, their API tokens and their (encrypted) Bybit credentials."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bybit_client.enums import Network
from db_core import BigIdentity, new_registry, one_of
from db_user.scopes import TokenScope


class UserBase(DeclarativeBase):
    """Declarative base of the user database only (its own registry and MetaData)."""

    registry = new_registry()


class User(UserBase):
    __tablename__ = "users"
    __table_args__ = (
        # Case-insensitive uniqueness: Alice@x.com and alice@x.com are the same person.
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
    )

    id: Mapped[BigIdentity]
    email: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    disabled_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"User(id={self.id}, email={self.email!r})"


class ApiToken(UserBase):
    """A bearer token of a user; only a hash of the token is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (one_of("scope", TokenScope),)

    id: Mapped[BigIdentity]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str]
    token_hash: Mapped[str] = mapped_column(unique=True)
    scope: Mapped[str] = mapped_column(server_default=TokenScope.USER.value)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"ApiToken(id={self.id}, user_id={self.user_id}, name={self.name!r}, scope={self.scope!r})"


class BybitCredential(UserBase):
    """A user's Bybit API key; the secret is stored only as ciphertext with the id of its master key."""

    __tablename__ = "bybit_credentials"
    __table_args__ = (
        UniqueConstraint("user_id", "network", "api_key"),
        one_of("network", Network),
    )

    id: Mapped[BigIdentity]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    network: Mapped[str]
    api_key: Mapped[str]
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # Indexed: readiness reads the key ids in use on every round (``credential_key_ids``).
    key_id: Mapped[str] = mapped_column(index=True)
    label: Mapped[str | None]
    permissions: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    read_only: Mapped[bool]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    validated_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        # Never the ciphertext; the api_key is shown masked.
        return f"BybitCredential(id={self.id}, user_id={self.user_id}, network={self.network!r})"
