"""FastAPI dependencies: the process's resources, the general database, a
user-database session per request, and the token a route's access requires."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.ext.asyncio import AsyncSession

from api_service.audit import Action, audit
from api_service.errors import ApiError
from api_service.resources import Resources
from api_service.tokens import hash_token, is_well_formed
from core_config import Settings
from db_core import Database
from db_user import ApiToken, TokenScope, User, find_active_token, token_id_for


# Dependencies that do no I/O are ``async def``: FastAPI would run a plain ``def`` one in a worker
# thread.
async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def general_database(request: Request) -> Database:
    """The general database; a route reads through ``async with general.reads() as connection``.

    The route enters the connection itself, so it is held only while the repository function runs.
    """
    return (await get_resources(request)).general_db


async def user_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """A user-database session for one request, committed when the route succeeds."""
    async with resources.user_db.session() as session:
        yield session


GeneralDatabase = Annotated[Database, Depends(general_database)]
# scope="function": the session commits when the route returns and before the response is sent,
# so a failed commit is the caller's error, not a success reported for nothing saved.
UserSession = Annotated[AsyncSession, Depends(user_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An API token issued with `api-admin tokens issue`")
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def client_of(request: Request) -> str:
    """The client address the request came from (a trusted proxy's word for it, ``client_address``)."""
    return request.client.host if request.client else "unknown"


def _refused(request: Request, status: int, reason: str, token_id: int | None = None) -> None:
    audit(
        Action.AUTH_REFUSED,
        status=status,
        reason=reason,
        client=client_of(request),
        token_id=token_id,
        method=request.method,
        path=request.url.path,
    )


async def bearer_token(
    security_scopes: SecurityScopes, session: UserSession, credentials: _Credentials, request: Request
) -> ApiToken:
    """The active token in ``Authorization: Bearer``, of a scope the route requires with
    ``Security(..., scopes=[...])``: 401 without such a token, 403 with another scope.
    Each refusal, and each request an operator token is accepted for, leaves an audit line."""
    if credentials is None:
        _refused(request, 401, "no bearer token")
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>", headers=_UNAUTHORIZED)
    # A malformed token (wrong shape, bad checksum) is refused without a database lookup.
    if not is_well_formed(credentials.credentials):
        _refused(request, 401, "malformed token")
        raise ApiError(401, "unauthorized", "the token is unknown, expired or revoked", headers=_UNAUTHORIZED)
    token_hash = hash_token(credentials.credentials)
    token = await find_active_token(session, token_hash)
    if token is None:
        # Named by its id when it is one of ours (expired, revoked, or its user disabled).
        _refused(request, 401, "unknown, expired or revoked token", await token_id_for(session, token_hash))
        raise ApiError(401, "unauthorized", "the token is unknown, expired or revoked", headers=_UNAUTHORIZED)
    # Release the token row's lock (last_used_at) now: the route may wait seconds on Bybit, and
    # every other request with the same token would queue behind it.
    await session.commit()
    # A route that names no scope lets no token through.
    if token.scope not in security_scopes.scopes:
        _refused(request, 403, f"token of scope {token.scope}", token.id)
        needed = " or ".join(security_scopes.scopes) or "(none declared)"
        message = f"this route needs a token of scope {needed}; this one has scope {token.scope}"
        raise ApiError(403, "forbidden", message)
    if token.scope == TokenScope.OPERATOR.value:
        audit(
            Action.OPERATOR_REQUEST,
            user_id=token.user_id,
            token_id=token.id,
            client=client_of(request),
            method=request.method,
            path=request.url.path,
        )
    return token


async def token_holder(token: Annotated[ApiToken, Depends(bearer_token)]) -> User:
    """The user of the route's token (``bearer_token`` checks it and its scope)."""
    return token.user


# A route's access, declared by its parameters: the scope is its OpenAPI security requirement
# (``{"HTTPBearer": ["user"]}``) and what its 403 names.
CurrentUser = Annotated[User, Security(token_holder, scopes=[TokenScope.USER.value])]
Operator = Annotated[User, Security(token_holder, scopes=[TokenScope.OPERATOR.value])]
# A route that records what its caller does (the trails name the token, never its secret).
UserToken = Annotated[ApiToken, Security(bearer_token, scopes=[TokenScope.USER.value])]
OperatorToken = Annotated[ApiToken, Security(bearer_token, scopes=[TokenScope.OPERATOR.value])]
