"""The user database's tables: users, their API tokens, their (encrypted) Bybit credentials, their
orders with each order's state trail and fills, trading halts and the operators' audit trail."""

from datetime import datetime
from decimal import Decimal
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

from bybit_client.enums import Category, Network, OrderType, Side, TimeInForce
from db_core import BigIdentity, new_registry, one_of
from db_user.account_states import AccountStatus
from db_user.order_states import OrderOrigin, OrderState
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


class Order(UserBase):
    """A user's order: what was asked (under an idempotency key), and where it stands at Bybit.

    ``order_link_id`` is derived from (user, idempotency key), so a repeat finds the same row and
    Bybit can never place it twice. ``state`` only moves forward (``OrderState``; ``orders`` guards
    every update); ``lease_until`` says until when one sender holds it (the request that stored it,
    or the tracker that resolves it), ``last_sent_at`` when a create for it last left.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        # Bybit keeps an orderLinkId unique per account and category (ours are unique anyway: derived
        # from the user and the idempotency key); an order placed elsewhere may carry any, or none.
        UniqueConstraint("credential_id", "category", "order_link_id"),
        # Bybit's order id is unique in an account: an order learnt twice (a double hold) is one row.
        UniqueConstraint("credential_id", "bybit_order_id"),
        Index("ix_orders_bybit_order_id", "bybit_order_id"),
        one_of("state", OrderState),
        one_of("origin", OrderOrigin),
        one_of("category", Category),
        one_of("side", Side),
        one_of("order_type", OrderType),
        one_of("time_in_force", TimeInForce),
        # The tracker's work: the unresolved orders, by lease.
        Index(
            "ix_orders_unresolved",
            "lease_until",
            postgresql_where=text("state IN ('pending', 'pending_unknown')"),
        ),
        Index("ix_orders_user_id_id", "user_id", "id"),
    )

    id: Mapped[BigIdentity]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Kept when the key is forgotten: the order and its trail stay; an unresolved one cannot be sent.
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("bybit_credentials.id", ondelete="SET NULL"), index=True
    )
    # Where the order was placed: through the api (under an idempotency key), or elsewhere with the
    # same key (Bybit's app, another tool: ``external``, learnt from the account's stream or its
    # reconciliation, with no idempotency key and no request of ours).
    origin: Mapped[str] = mapped_column(server_default=OrderOrigin.API.value)
    idempotency_key: Mapped[str | None]
    request_hash: Mapped[str | None]
    order_link_id: Mapped[str | None]
    category: Mapped[str]
    symbol: Mapped[str]
    side: Mapped[str]
    order_type: Mapped[str]
    qty: Mapped[Decimal]
    price: Mapped[Decimal | None]
    time_in_force: Mapped[str | None]
    reduce_only: Mapped[bool]
    state: Mapped[str] = mapped_column(server_default=OrderState.PENDING.value)
    bybit_order_id: Mapped[str | None]
    bybit_status: Mapped[str | None]
    filled_qty: Mapped[Decimal] = mapped_column(server_default=text("0"))
    avg_price: Mapped[Decimal | None]
    reject_code: Mapped[int | None]
    reject_reason: Mapped[str | None]
    bybit_updated_at: Mapped[datetime | None]
    send_attempts: Mapped[int] = mapped_column(server_default=text("0"))
    last_sent_at: Mapped[datetime | None]
    lease_until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    def __repr__(self) -> str:
        return f"Order(id={self.id}, user_id={self.user_id}, state={self.state!r})"


class OrderEvent(UserBase):
    """One change of an order's state: who (``token:<id>`` or ``system``), when, from which address."""

    __tablename__ = "order_events"

    id: Mapped[BigIdentity]
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor: Mapped[str]
    client_address: Mapped[str | None]
    from_state: Mapped[str | None]
    to_state: Mapped[str]
    detail: Mapped[str | None]


class Execution(UserBase):
    """A fill of a user's order, once per Bybit ``execId``."""

    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_user_id_id", "user_id", "id"),)

    id: Mapped[BigIdentity]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # The key whose account made the fill (null for fills recorded before accounts were followed, or
    # once the key is forgotten): the account process resumes its executions from the newest one.
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("bybit_credentials.id", ondelete="SET NULL"))
    exec_id: Mapped[str] = mapped_column(unique=True)
    bybit_order_id: Mapped[str]
    category: Mapped[str]
    symbol: Mapped[str]
    side: Mapped[str]
    exec_price: Mapped[Decimal]
    exec_qty: Mapped[Decimal]
    exec_fee: Mapped[Decimal | None]
    fee_currency: Mapped[str | None]
    is_maker: Mapped[bool | None]
    exec_time: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


Index("ix_executions_credential_id_exec_time", Execution.credential_id, Execution.exec_time)
# The fills not yet linked to their order, by Bybit's order id (linked when the order is stored).
Index(
    "ix_executions_unlinked",
    Execution.bybit_order_id,
    postgresql_where=Execution.order_id.is_(None),
)


class AccountPosition(UserBase):
    """A position of a key's account as Bybit last showed it (stream or reconciliation), kept only
    forward: a state of a lower (``seq``, ``bybit_updated_at``) never replaces a newer one."""

    __tablename__ = "account_positions"

    credential_id: Mapped[int] = mapped_column(
        ForeignKey("bybit_credentials.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(primary_key=True)
    position_idx: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    side: Mapped[str | None]
    size: Mapped[Decimal]
    avg_price: Mapped[Decimal | None]
    mark_price: Mapped[Decimal | None]
    leverage: Mapped[Decimal | None]
    unrealised_pnl: Mapped[Decimal | None]
    cum_realised_pnl: Mapped[Decimal | None]
    seq: Mapped[int] = mapped_column(BigInteger)
    bybit_updated_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AccountBalance(UserBase):
    """One coin of a key's unified wallet as Bybit last showed it; ``bybit_at`` orders the states (a
    push's ``creationTime``, or the moment a reconciliation asked), kept only forward."""

    __tablename__ = "account_balances"

    credential_id: Mapped[int] = mapped_column(
        ForeignKey("bybit_credentials.id", ondelete="CASCADE"), primary_key=True
    )
    coin: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    equity: Mapped[Decimal | None]
    wallet_balance: Mapped[Decimal | None]
    locked: Mapped[Decimal | None]
    unrealised_pnl: Mapped[Decimal | None]
    available_to_withdraw: Mapped[Decimal | None]
    bybit_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AccountHolder(UserBase):
    """An account process alive until ``alive_until`` (renewed with its leases): the processes among
    which the keys are shared, those holding none yet included."""

    __tablename__ = "account_holders"

    holder: Mapped[str] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    alive_until: Mapped[datetime]


class AccountLease(UserBase):
    """Which account process holds a key's private stream, until when, and how the account stands.

    A process holds a key while ``lease_until`` is ahead and renews it well before; a lease run out
    is free for any process (taken with ``FOR UPDATE SKIP LOCKED``). The row goes with its key.
    """

    __tablename__ = "account_leases"
    __table_args__ = (one_of("status", AccountStatus),)

    credential_id: Mapped[int] = mapped_column(
        ForeignKey("bybit_credentials.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str | None]
    lease_until: Mapped[datetime] = mapped_column(server_default=func.now())
    status: Mapped[str] = mapped_column(server_default=AccountStatus.WAITING.value)
    connected: Mapped[bool] = mapped_column(server_default=text("false"))
    last_event_at: Mapped[datetime | None]
    last_reconcile_at: Mapped[datetime | None]
    # What the last reconciliation corrected: {"orders": n, "executions": n, "positions": n, ...}.
    last_corrections: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    problem: Mapped[str | None]
    reconciles: Mapped[int] = mapped_column(server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
