"""The user database's tables: users, their API tokens, their (encrypted) Bybit credentials, trading
halts and the audit trail."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
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
    key_id: Mapped[str]
    label: Mapped[str | None]
    permissions: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    read_only: Mapped[bool]
    expires_at: Mapped[datetime | None]
    # The addresses Bybit accepts the key from, as query-api lists them; ["*"]: any address.
    ips: Mapped[list[str]] = mapped_column(ARRAY(String), server_default=text("'{}'::varchar[]"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    validated_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        # Never the ciphertext; the api_key is shown masked.
        return f"BybitCredential(id={self.id}, user_id={self.user_id}, network={self.network!r})"


class Halt(UserBase):
    """An operator's stop of trading for one user (``user_id``) or for everyone (``user_id`` null),
    in force until ``lifted_at`` is set. At most one halt in force per user and one for everyone."""

    __tablename__ = "trading_halts"
    __table_args__ = (
        Index(
            "uq_trading_halts_in_force",
            func.coalesce(text("user_id"), 0),
            unique=True,
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: Mapped[BigIdentity]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[str]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None]

    def __repr__(self) -> str:
        return f"Halt(id={self.id}, user_id={self.user_id}, lifted={self.lifted_at is not None})"


class AuditEvent(UserBase):
    """One recorded action: who (``actor``: ``token:<id>``, ``api-admin:<os user>``, ``system``), when,
    from which address, what (``action``, ``subject``, ``details``), and whose data it concerns
    (``user_id``: the trail a user may read). Rows are only ever added."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_id_id", "user_id", "id"),)

    id: Mapped[BigIdentity]
    at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    actor: Mapped[str]
    # No foreign keys: the trail outlives the tokens and users it names.
    token_id: Mapped[int | None] = mapped_column(BigInteger)
    address: Mapped[str | None]
    action: Mapped[str] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    subject: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))

    def __repr__(self) -> str:
        return f"AuditEvent(id={self.id}, action={self.action!r}, actor={self.actor!r})"
