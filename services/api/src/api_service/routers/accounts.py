"""The accounts as the account processes keep them: a user's positions and balances per stored key
(from the stored state, with when each row was last updated and how the account's following
stands), and the operators' view of every account and each account process's share."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api_service.dependencies import CurrentUser, OperatorToken, UserSession
from api_service.errors import ApiError, error_responses
from api_service.route_policy import RateLimitGroup, limited
from api_service.schemas import MAX_ID, DecimalString, UtcDateTime
from db_user import (
    AccountLease,
    AccountStatus,
    account_holders,
    account_lease,
    account_leases,
    get_bybit_credential,
    lease_alive,
    lease_shares,
    stored_balances,
    stored_positions,
)

router = APIRouter(prefix="/v1", tags=["accounts"])

CredentialId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_ACCOUNTS_PAGE = 1000


class FollowingOut(BaseModel):
    """How the following of a key's account stands (null fields: never followed yet)."""

    status: AccountStatus = Field(
        description="waiting (no account process holds it yet), reconciling (being merged with "
        "Bybit's state: new orders wait), live, down (its stream is away), unfit (the key may not "
        "trade, or Bybit refused its login)"
    )
    held: bool = Field(description="an account process holds the key now")
    connected: bool
    last_event_at: UtcDateTime | None = Field(description="when the last push of its stream was written")
    last_reconcile_at: UtcDateTime | None
    last_corrections: dict[str, Any] = Field(
        description="what the last reconciliation corrected, by kind (its reason included)"
    )
    problem: str | None

    @classmethod
    def of(cls, lease: AccountLease | None) -> "FollowingOut":
        if lease is None:
            return cls(
                status=AccountStatus.WAITING,
                held=False,
                connected=False,
                last_event_at=None,
                last_reconcile_at=None,
                last_corrections={},
                problem=None,
            )
        return cls(
            status=AccountStatus(lease.status),
            held=lease_alive(lease, datetime.now(UTC)),
            connected=lease.connected,
            last_event_at=lease.last_event_at,
            last_reconcile_at=lease.last_reconcile_at,
            last_corrections=lease.last_corrections,
            problem=lease.problem,
        )


class PositionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    category: str
    symbol: str
    position_idx: int
    side: str | None
    size: DecimalString
    avg_price: DecimalString | None
    mark_price: DecimalString | None
    leverage: DecimalString | None
    unrealised_pnl: DecimalString | None
    cum_realised_pnl: DecimalString | None
    bybit_updated_at: UtcDateTime = Field(description="Bybit's time of this state")
    updated_at: UtcDateTime = Field(description="when it was stored")


class PositionList(BaseModel):
    credential_id: int
    following: FollowingOut
    items: list[PositionOut]


class BalanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    coin: str
    equity: DecimalString | None
    wallet_balance: DecimalString | None
    locked: DecimalString | None
    unrealised_pnl: DecimalString | None
    available_to_withdraw: DecimalString | None
    bybit_at: UtcDateTime = Field(description="Bybit's time of this state")
    updated_at: UtcDateTime = Field(description="when it was stored")


class BalanceList(BaseModel):
    credential_id: int
    following: FollowingOut
    items: list[BalanceOut]


async def _own(session: UserSession, user_id: int, credential_id: int) -> None:
    if await get_bybit_credential(session, user_id, credential_id) is None:
        raise ApiError(404, "credential_not_found", f"you have no stored credential {credential_id}")


@router.get(
    "/me/bybit-credentials/{credential_id}/positions",
    summary="The positions of one of your keys' accounts, as last stored, with how its following stands",
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def positions(credential_id: CredentialId, user: CurrentUser, session: UserSession) -> PositionList:
    await _own(session, user.id, credential_id)
    rows = await stored_positions(session, credential_id)
    return PositionList(
        credential_id=credential_id,
        following=FollowingOut.of(await account_lease(session, credential_id)),
        items=[PositionOut.model_validate(row) for row in rows],
    )


@router.get(
    "/me/bybit-credentials/{credential_id}/balances",
    summary="The wallet balances of one of your keys' accounts, as last stored, with how its following "
    "stands",
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def balances(credential_id: CredentialId, user: CurrentUser, session: UserSession) -> BalanceList:
    await _own(session, user.id, credential_id)
    rows = await stored_balances(session, credential_id)
    return BalanceList(
        credential_id=credential_id,
        following=FollowingOut.of(await account_lease(session, credential_id)),
        items=[BalanceOut.model_validate(row) for row in rows],
    )


class AccountOut(FollowingOut):
    credential_id: int
    holder: str | None = Field(description="the account process holding the key (host:pid:tag)")
    lease_until: UtcDateTime


class ProcessOut(BaseModel):
    holder: str
    started_at: UtcDateTime
    alive_until: UtcDateTime
    held: int = Field(description="keys it holds now")
    live: int = Field(description="of them, live")


class AccountsView(BaseModel):
    processes: list[ProcessOut]
    items: list[AccountOut]
    next_after: int | None = Field(description="pass as `after` for the next page of accounts")
    counts: dict[str, int] = Field(description="the accounts of this page by status")


@router.get(
    "/accounts",
    summary="Every followed account and each account process's share (operator scope)",
    responses=error_responses(401, 403, 422, 503),
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def accounts_view(
    _: OperatorToken,
    session: UserSession,
    after: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the cursor: keys after this id")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ACCOUNTS_PAGE)] = 200,
) -> AccountsView:
    leases = await account_leases(session, after=after, limit=limit + 1)
    page = leases[:limit]
    items = [
        AccountOut(
            **FollowingOut.of(lease).model_dump(),
            credential_id=lease.credential_id,
            holder=lease.holder,
            lease_until=lease.lease_until,
        )
        for lease in page
    ]
    shares = await lease_shares(session)
    processes = [
        ProcessOut(
            holder=row.holder,
            started_at=row.started_at,
            alive_until=row.alive_until,
            held=shares.get(row.holder, (0, 0))[0],
            live=shares.get(row.holder, (0, 0))[1],
        )
        for row in await account_holders(session)
    ]
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status.value] = counts.get(item.status.value, 0) + 1
    next_after = page[-1].credential_id if len(leases) > limit else None
    return AccountsView(processes=processes, items=items, next_after=next_after, counts=counts)
