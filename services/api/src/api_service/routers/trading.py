"""The kill switch and the audit trail, for operators: halt trading for one user or everyone, lift
it, see the halts in force, read who did what."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api_service.dependencies import OperatorToken, UserSession
from api_service.errors import ApiError, error_responses
from api_service.halt_sweep import SWEEP_TIMEOUT, Sweeper, SweepOutcome
from api_service.kill_switch import BackgroundSweeps, halt, lift, sweep, sweep_after_deadline
from api_service.route_policy import RateLimitGroup, limited
from api_service.schemas import MAX_ID, Text, UtcDateTime
from db_user import Actor, ApiToken, get_user, halts_in_force, list_audit

router = APIRouter(prefix="/v1", tags=["operations"])

# The halt's answer waits this long for the first sweep (each key's calls end within SWEEP_TIMEOUT;
# many keys take longer): past it the answer says so, and the sweep's outcome is in the audit trail.
ANSWER_WAIT = SWEEP_TIMEOUT + 1.0

UserId = Annotated[int, Field(ge=1, le=MAX_ID)]


class Target(BaseModel):
    """Whom a halt stops: one user (``user_id``) or everyone (``all: true``), exactly one of them."""

    user_id: UserId | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> "Target":
        if (self.user_id is None) == (not self.all):
            raise ValueError("give either user_id or all: true, not both and not neither")
        return self


class HaltIn(Target):
    reason: Text = Field(min_length=1, max_length=500, description="why; kept in the audit trail")


class LiftIn(Target):
    reason: Text | None = Field(None, max_length=500)


class HaltOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int | None = Field(description="null: the halt stops everyone")
    reason: str
    created_at: UtcDateTime
    created_by: str
    lifted_at: UtcDateTime | None
    lifted_by: str | None


class CredentialSweptOut(BaseModel):
    credential_id: int
    user_id: int
    outcome: SweepOutcome = Field(description="cancelled: Bybit cancelled all; unknown: orders may remain")
    cancelled: int = Field(description="orders Bybit reported cancelled")
    detail: str | None


class HaltDoneOut(BaseModel):
    halt: HaltOut
    created: bool = Field(description="false: this halt was in force already")
    swept: list[CredentialSweptOut] | None = Field(
        description="the first sweep, per stored key of the halted users; null when it was still "
        "running after 5 s (it goes on; its outcome is in the audit trail, action trading.sweep). A "
        "second sweep follows once orders sent before the halt can no longer arrive"
    )


class HaltList(BaseModel):
    items: list[HaltOut]


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDateTime
    actor: str = Field(description="token:<id>, api-admin:<os user> or system")
    token_id: int | None
    address: str | None
    action: str
    user_id: int | None
    subject: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_before: int | None = Field(description="pass as `before` for the next (older) page")


def _actor(token: ApiToken, request: Request) -> Actor:
    return Actor.token(token.id, request.client.host if request.client else None)


def _sweeping(request: Request) -> tuple[Sweeper, BackgroundSweeps]:
    return request.app.state.halt_sweeper, request.app.state.halt_sweeps


@router.post(
    "/trading/halts",
    summary="Halt trading for one user or for everyone, and cancel their open orders (operator scope)",
    description=(
        "From the moment this answers, order requests of the halted users are refused (423 "
        "`trading_halted`) by every api process. Their open orders at Bybit are cancelled on each of "
        "their stored keys before the answer (each key's outcome in `swept`: `unknown` when Bybit did "
        "not confirm), and once more when no order sent before the halt can still arrive. 201 for a "
        "new halt, 200 when one was in force already. The halt holds across restarts until lifted."
    ),
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": HaltDoneOut, "description": "a halt was in force already (its sweep ran again)"},
        **error_responses(401, 403, 404, 422, 503),
    },
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def halt_trading_route(
    body: HaltIn, token: OperatorToken, session: UserSession, request: Request, response: Response
) -> HaltDoneOut:
    if body.user_id is not None and await get_user(session, body.user_id) is None:
        raise ApiError(404, "user_not_found", f"there is no user {body.user_id}")
    await session.commit()  # the check's connection goes back before the sweep's calls to Bybit
    sweeper, sweeps = _sweeping(request)
    database = request.app.state.resources.user_db
    halted, created = await halt(database, _actor(token, request), user_id=body.user_id, reason=body.reason)
    # Both sweeps run in the background, so a client that gives up does not stop them.
    first = sweeps.start(sweep(database, sweeper, [halted], "at halt"))
    sweeps.start(sweep_after_deadline(database, sweeper))
    try:
        swept = await asyncio.wait_for(asyncio.shield(first), ANSWER_WAIT)
    except TimeoutError:
        swept = None
    if not created:
        response.status_code = status.HTTP_200_OK
    return HaltDoneOut(
        halt=HaltOut.model_validate(halted),
        created=created,
        swept=None if swept is None else [CredentialSweptOut.model_validate(one.as_dict()) for one in swept],
    )


@router.post(
    "/trading/halts/lift",
    summary="Lift the halt of one user or the one of everyone (operator scope)",
    description=(
        "A user's own halt and the halt of everyone are lifted separately: a user stays halted while "
        "either is in force. 404 `halt_not_found` when none is in force for the target."
    ),
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def lift_halt_route(body: LiftIn, token: OperatorToken, request: Request) -> HaltOut:
    database = request.app.state.resources.user_db
    lifted = await lift(database, _actor(token, request), user_id=body.user_id, reason=body.reason)
    if lifted is None:
        whom = "everyone" if body.all else f"user {body.user_id}"
        raise ApiError(404, "halt_not_found", f"no halt is in force for {whom}")
    return HaltOut.model_validate(lifted)


@router.get(
    "/trading/halts",
    summary="The halts in force (operator scope)",
    responses=error_responses(401, 403, 503),
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def list_halts(_: OperatorToken, session: UserSession) -> HaltList:
    return HaltList(items=[HaltOut.model_validate(row) for row in await halts_in_force(session)])


@router.get(
    "/audit",
    summary="The audit trail, newest first (operator scope)",
    description="Every operator action and halt sweep: who (token id or api-admin and the OS user), "
    "when, from which address, what.",
    responses=error_responses(401, 403, 422, 503),
    openapi_extra=limited(RateLimitGroup.OPERATOR),
)
async def audit_trail(
    _: OperatorToken,
    session: UserSession,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only rows about this user")] = None,
    action: Annotated[
        str | None, Query(pattern=r"^[a-z_.]{1,64}$", description="only actions starting with this")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the cursor: rows older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    rows = await list_audit(session, user_id=user_id, action_prefix=action, before_id=before, limit=limit)
    return AuditPage(
        items=[AuditEventOut.model_validate(row) for row in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )
