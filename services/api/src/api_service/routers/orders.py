"""A user's orders: placed once under an idempotency key, checked against the instrument's rules
before anything is sent, listed, read with their trail, cancelled; and their fills.

Placing (``POST /v1/me/orders``): the key is looked up first (a repeat answers the stored order, a
different body under it is a 409); the instrument's rules from the general database are applied
(``InstrumentRules.check``, the check the exchange makes: a breach is a 422 naming the rule, nothing
stored or sent); the order is stored ``pending`` with its ``orderLinkId`` and committed; only then is
it sent, once, bounded by ``ORDER_SEND_TIMEOUT``, out of the account's budget (spent: 429 with
``Retry-After``, the unsent order forgotten). What the answer proves is recorded (``order_sending``);
an unknown outcome stays ``pending_unknown`` and the tracker resolves it.

Every order route finds orders by the caller's user id as well: another user's order is a 404.
"""

import hashlib
import json
import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api_service.account_readiness import wait_account_ready
from api_service.dependencies import CurrentUser, GeneralDatabase, ResourcesDep, UserSession, UserToken
from api_service.errors import ApiError, error_responses
from api_service.order_sending import fills_of, found_update, outcome_update, send_create, trading_client
from api_service.order_tracker import lease_for
from api_service.route_policy import RateLimitGroup, limited
from api_service.schemas import MAX_ID, DecimalString, Symbol, UtcDateTime
from api_service.trading_halt import HALTED_STATUS, TradingAllowed
from bybit_client import (
    BybitBudgetError,
    BybitError,
    Category,
    InstrumentRules,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from db_general import listed_instrument_raw
from db_user import (
    Actor,
    BybitCredential,
    CredentialContext,
    NewOrder,
    Order,
    OrderOrigin,
    OrderState,
    OrderUpdate,
    VaultError,
    forget_unsent_order,
    get_bybit_credential,
    get_order,
    list_executions,
    list_orders,
    move_order,
    order_by_key,
    order_events,
    record_executions,
    store_pending_order,
    trading_refusal,
)
from db_user.order_states import OPEN, UNRESOLVED

router = APIRouter(prefix="/v1/me", tags=["orders"])

MAX_PAGE = 200
# A quantity or price: positive, at most 18 digits before the point and 18 after.
Quantity = Annotated[Decimal, Field(gt=0, max_digits=36, decimal_places=18, allow_inf_nan=False)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="your unique key for this order (8-64 letters, digits, `_ . : -`): a repeat with "
        "the same key answers the same order and never places another",
    ),
]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID)]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential_id: int = Field(ge=1, le=MAX_ID, description="the stored Bybit key to trade with")
    category: Literal[Category.LINEAR, Category.SPOT, Category.INVERSE]
    symbol: Symbol
    side: Side
    order_type: OrderType
    qty: Quantity
    price: Quantity | None = Field(None, description="a limit order's price; none for a market order")
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False

    @model_validator(mode="after")
    def _priced(self) -> "OrderIn":
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise ValueError("a limit order needs a price")
        if self.order_type is OrderType.MARKET and self.price is not None:
            raise ValueError("a market order takes no price")
        return self

    def fingerprint(self) -> str:
        """The request as one text, the same for the same order however it was written."""
        fields = self.model_dump(mode="json")
        for name in ("qty", "price"):
            if fields[name] is not None:
                fields[name] = format(Decimal(fields[name]).normalize(), "f")
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class OrderOut(BaseModel):
    """An order as stored: what was asked, and where it stands at Bybit."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    credential_id: int | None
    origin: OrderOrigin = Field(
        description="api: placed through this service; external: placed elsewhere with the same key "
        "(Bybit's app, another tool), learnt from the account's stream"
    )
    order_link_id: str | None
    category: str
    symbol: str
    side: str
    order_type: str
    qty: DecimalString
    price: DecimalString | None
    time_in_force: str | None
    reduce_only: bool
    state: OrderState = Field(
        description="pending (stored, answer not recorded) -> pending_unknown (sent, outcome not known: "
        "being resolved, never a failure) -> accepted -> new -> partially_filled -> filled / cancelled; "
        "rejected (Bybit refused: nothing placed); not_placed (proven absent)"
    )
    bybit_order_id: str | None
    bybit_status: str | None
    filled_qty: DecimalString
    avg_price: DecimalString | None
    reject_code: int | None
    reject_reason: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class OrderEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: UtcDateTime
    actor: str = Field(description="`token:<id>` of the caller who acted, or `system`")
    client_address: str | None
    from_state: str | None
    to_state: str
    detail: str | None


class OrderTrail(BaseModel):
    order_id: int
    items: list[OrderEventOut]


class ExecutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int | None
    exec_id: str
    bybit_order_id: str
    category: str
    symbol: str
    side: str
    exec_price: DecimalString
    exec_qty: DecimalString
    exec_fee: DecimalString | None
    fee_currency: str | None
    is_maker: bool | None
    exec_time: UtcDateTime


class ExecutionPage(BaseModel):
    items: list[ExecutionOut]
    next_cursor: str | None


class CancelAllIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential_id: int = Field(ge=1, le=MAX_ID)
    category: Literal[Category.LINEAR, Category.SPOT, Category.INVERSE]
    symbol: Symbol


class CancelAllOut(BaseModel):
    cancelled: list[OrderOut] = Field(description="your orders Bybit says it cancelled")


def _actor(request: Request, token: UserToken) -> Actor:
    address = request.client.host if request.client else None
    return Actor.token(token.id, address)


ActorDep = Annotated[Actor, Depends(_actor)]


async def trading_credential(
    session: UserSession, user_id: int, credential_id: int, category: Category
) -> BybitCredential:
    """The caller's credential an order of ``category`` is placed, or cancelled, with: the one place
    a key is judged fit to trade (404 when it is not the caller's; 422 when it may not trade)."""
    credential = await get_bybit_credential(session, user_id, credential_id)
    if credential is None:
        raise ApiError(404, "credential_not_found", f"you have no stored credential {credential_id}")
    refusal = trading_refusal(credential, category=category)
    if refusal is not None:
        raise ApiError(422, "credential_unfit", refusal)
    return credential


def _secret(resources: ResourcesDep, credential: BybitCredential) -> Any:
    try:
        return resources.vault.decrypt(
            credential.secret_ciphertext, credential.key_id, CredentialContext.of(credential)
        )
    except VaultError as exc:
        raise ApiError(409, "credential_unreadable", f"{exc}; store the key again") from None


def _budget_spent(exc: BybitBudgetError) -> ApiError:
    retry_after = str(max(1, math.ceil(exc.retry_after)))
    return ApiError(
        429,
        "order_budget_spent",
        f"this account's order calls to Bybit are spent for now; try again in {retry_after} s",
        headers={"Retry-After": retry_after},
    )


async def _check_rules(general: GeneralDatabase, body: OrderIn, request: OrderRequest) -> None:
    async with general.reads() as connection:
        raw = await listed_instrument_raw(connection, body.category.value, body.symbol)
    if raw is None:
        message = f"{body.category.value} {body.symbol} is not a listed instrument"
        raise ApiError(422, "order_rule_unknown_symbol", message)
    breach = InstrumentRules.from_raw(body.category, raw).check(request)
    if breach is not None:
        message = (
            f"the order breaks the instrument's rule {breach.rule.value}: {breach.ret_msg} "
            f"(Bybit would answer retCode {breach.ret_code})"
        )
        raise ApiError(422, f"order_rule_{breach.rule.value}", message)


def _same_or_conflict(existing: Order, fingerprint: str) -> OrderOut:
    if existing.request_hash != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another order; use a new key for a new order",
        )
    return OrderOut.model_validate(existing)


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Place an order on one of your keys, once per Idempotency-Key",
    description="201: the order, stored before it was sent, with what Bybit's answer proved "
    "(`pending_unknown` when it did not answer in time: it is being resolved). "
    "200: a repeat of an earlier key, answering that order as it stands.",
    responses={
        200: {"model": OrderOut, "description": "A repeat of a key: that order as it stands"},
        **error_responses(401, 403, 404, 409, 422, HALTED_STATUS, 429, 503),
    },
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def place_order(
    _halt: TradingAllowed,
    body: OrderIn,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    session: UserSession,
    general: GeneralDatabase,
    resources: ResourcesDep,
    actor: ActorDep,
    response: Response,
) -> OrderOut:
    fingerprint = body.fingerprint()
    existing = await order_by_key(session, user.id, idempotency_key)
    if existing is not None:
        response.status_code = status.HTTP_200_OK
        return _same_or_conflict(existing, fingerprint)
    credential = await trading_credential(session, user.id, body.credential_id, body.category)
    await wait_account_ready(session, credential.id)
    try:
        request = OrderRequest(
            symbol=body.symbol,
            side=body.side,
            order_type=body.order_type,
            qty=body.qty,
            price=body.price,
            time_in_force=body.time_in_force,
            reduce_only=body.reduce_only or None,
        )
    except ValueError as exc:
        raise ApiError(422, "invalid_order", str(exc)) from None
    await _check_rules(general, body, request)
    secret = _secret(resources, credential)
    order, created = await store_pending_order(
        session,
        user_id=user.id,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        order=NewOrder(
            credential_id=credential.id,
            category=body.category.value,
            symbol=body.symbol,
            side=body.side.value,
            order_type=body.order_type.value,
            qty=body.qty,
            price=body.price,
            time_in_force=body.time_in_force.value if body.time_in_force else None,
            reduce_only=body.reduce_only,
        ),
        lease=lease_for(resources),
        actor=actor,
    )
    if not created:  # the same key raced in from another request
        response.status_code = status.HTTP_200_OK
        return _same_or_conflict(order, fingerprint)
    stored_lease = order.lease_until
    # Stored before anything is sent: from here on the order cannot be lost.
    await session.commit()
    try:
        async with trading_client(resources.settings, credential, secret, resources.order_budget) as bybit:
            outcome = await send_create(bybit, order)
    except BybitBudgetError as exc:
        # Nothing was sent: forget the order, so the same key places it when the caller retries.
        if await forget_unsent_order(session, order.id, stored_lease):
            await session.commit()
            raise _budget_spent(exc) from None
        outcome = None
    except BybitError:
        outcome = None  # nothing proven: the tracker resolves it
    if outcome is not None:
        moved = await move_order(session, order.id, outcome_update(outcome), actor)
        order = moved or order
    return OrderOut.model_validate(order)


@router.get(
    "/orders",
    summary="Your orders, newest first, in pages",
    responses=error_responses(401, 403, 422, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def orders(
    user: CurrentUser,
    session: UserSession,
    category: Category | None = None,
    symbol: Symbol | None = None,
    state: Annotated[list[OrderState] | None, Query(max_length=len(OrderState))] = None,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> OrderPage:
    rows = await list_orders(
        session,
        user.id,
        symbol=symbol,
        category=category.value if category else None,
        states=state or (),
        before_id=cursor,
        limit=limit + 1,
    )
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return OrderPage(items=[OrderOut.model_validate(row) for row in rows[:limit]], next_cursor=next_cursor)


async def _own_order(session: UserSession, user_id: int, order_id: int) -> Order:
    order = await get_order(session, user_id, order_id)
    if order is None:
        raise ApiError(404, "order_not_found", f"you have no order {order_id}")
    return order


@router.get(
    "/orders/{order_id}",
    summary="One of your orders",
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def order(order_id: OrderId, user: CurrentUser, session: UserSession) -> OrderOut:
    return OrderOut.model_validate(await _own_order(session, user.id, order_id))


@router.get(
    "/orders/{order_id}/events",
    summary="The trail of one of your orders: every change of its state, who made it, when, from where",
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def order_trail(order_id: OrderId, user: CurrentUser, session: UserSession) -> OrderTrail:
    await _own_order(session, user.id, order_id)
    events = await order_events(session, user.id, order_id)
    return OrderTrail(order_id=order_id, items=[OrderEventOut.model_validate(e) for e in events])


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel one of your open orders",
    description="The order as Bybit shows it after the cancel. 409: the order is not open (final, or "
    "its placing not yet resolved), or Bybit says it is finished.",
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def cancel_order(
    order_id: OrderId, user: CurrentUser, session: UserSession, resources: ResourcesDep, actor: ActorDep
) -> OrderOut:
    order = await _own_order(session, user.id, order_id)
    state = OrderState(order.state)
    if state in UNRESOLVED:
        # Cancelling by orderLinkId now could meet nothing, and the order be placed after.
        message = "this order's placing is not resolved yet; cancel it once it is accepted"
        raise ApiError(409, "order_not_confirmed", message)
    if state not in OPEN:
        raise ApiError(409, "order_closed", f"this order is {state.value}: nothing to cancel")
    if order.credential_id is None:
        raise ApiError(409, "credential_gone", "the key this order was placed with is no longer stored")
    credential = await trading_credential(session, user.id, order.credential_id, Category(order.category))
    secret = _secret(resources, credential)
    await session.commit()  # no connection held while Bybit answers
    try:
        async with trading_client(resources.settings, credential, secret, resources.order_budget) as bybit:
            outcome = await bybit.cancel_order(
                order.category, order.symbol, order_link_id=order.order_link_id
            )
            found = await bybit.find_order(order.category, order_link_id=order.order_link_id)
            fills = await fills_of(bybit, order, found) if found is not None else []
    except BybitBudgetError as exc:
        raise _budget_spent(exc) from None
    except BybitError as exc:
        raise ApiError(
            503, "bybit_unavailable", f"Bybit did not answer the cancel; try again ({exc.ret_msg})"
        ) from None
    moved = await move_order(session, order.id, found_update(found), actor) if found is not None else None
    await record_executions(session, user.id, order.id, fills)
    order = moved or await _own_order(session, user.id, order_id)
    await session.commit()  # what Bybit showed is kept, whatever the answer below
    if outcome.rejected:
        raise ApiError(
            409,
            "order_closed",
            f"Bybit refused the cancel (retCode {outcome.ret_code}: {outcome.ret_msg}); "
            f"the order is {order.state}",
        )
    if outcome.unknown:
        raise ApiError(
            503,
            "cancel_outcome_unknown",
            "Bybit did not say whether the order was cancelled; read it again shortly",
        )
    return OrderOut.model_validate(order)


@router.post(
    "/orders/cancel-all",
    summary="Cancel all your open orders on one symbol",
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def cancel_all(
    body: CancelAllIn, user: CurrentUser, session: UserSession, resources: ResourcesDep, actor: ActorDep
) -> CancelAllOut:
    credential = await trading_credential(session, user.id, body.credential_id, body.category)
    secret = _secret(resources, credential)
    await session.commit()
    try:
        async with trading_client(resources.settings, credential, secret, resources.order_budget) as bybit:
            outcome = await bybit.cancel_all_orders(body.category, symbol=body.symbol)
    except BybitBudgetError as exc:
        raise _budget_spent(exc) from None
    if outcome.unknown:
        raise ApiError(
            503,
            "cancel_outcome_unknown",
            "Bybit did not say which orders it cancelled; list your orders shortly",
        )
    if outcome.rejected:
        raise ApiError(
            409, "cancel_refused", f"Bybit refused (retCode {outcome.ret_code}: {outcome.ret_msg})"
        )
    link_ids = {ack.order_link_id for ack in outcome.result or [] if ack.order_link_id}
    mine = [
        row
        for row in await list_orders(
            session, user.id, symbol=body.symbol, category=body.category.value, states=tuple(OPEN), limit=500
        )
        if row.order_link_id in link_ids
    ]
    cancelled = []
    for row in mine:
        change = OrderUpdate(OrderState.CANCELLED, detail="Bybit cancelled it (cancel-all)")
        cancelled.append(await move_order(session, row.id, change, actor) or row)
    return CancelAllOut(cancelled=[OrderOut.model_validate(row) for row in cancelled])


@router.get(
    "/executions",
    summary="Your fills, newest first, in pages",
    responses=error_responses(401, 403, 422, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def executions(
    user: CurrentUser,
    session: UserSession,
    symbol: Symbol | None = None,
    order_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> ExecutionPage:
    rows = await list_executions(
        session, user.id, symbol=symbol, order_id=order_id, before_id=cursor, limit=limit + 1
    )
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return ExecutionPage(
        items=[ExecutionOut.model_validate(r) for r in rows[:limit]], next_cursor=next_cursor
    )
