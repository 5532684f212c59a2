"""API tokens: only a hash of each token is stored; lookups go by that hash.

A token has one scope (``TokenScope``) and may expire; an expired or revoked token, or one whose user
is disabled, is never found.
"""

from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from db_user.models import ApiToken, User
from db_user.scopes import TokenScope


async def add_api_token(
    session: AsyncSession,
    *,
    user_id: int,
    name: str,
    token_hash: str,
    scope: TokenScope = TokenScope.USER,
    expires_at: datetime | None = None,
) -> ApiToken:
    """Store a new token's hash for a user, with its scope and optional expiry."""
    token = ApiToken(
        user_id=user_id, name=name, token_hash=token_hash, scope=scope.value, expires_at=expires_at
    )
    session.add(token)
    await session.flush()
    return token


async def find_active_token(
    session: AsyncSession, token_hash: str, *, now: datetime | None = None
) -> ApiToken | None:
    """The unrevoked, unexpired token with this hash whose user is not disabled, with ``.user`` loaded.

    Records the use in ``last_used_at``.
    """
    now = now or datetime.now(UTC)
    tokens = await session.scalars(
        select(ApiToken)
        .join(ApiToken.user)
        .options(joinedload(ApiToken.user))
        .where(
            ApiToken.token_hash == token_hash,
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            User.disabled_at.is_(None),
        )
    )
    token = tokens.unique().one_or_none()
    if token is not None:
        token.last_used_at = now
        await session.flush()
    return token


async def token_id_for(session: AsyncSession, token_hash: str) -> int | None:
    """The id of the token with this hash, active or not (what an audit line names a refused token
    by); None when no token has it."""
    found: int | None = await session.scalar(select(ApiToken.id).where(ApiToken.token_hash == token_hash))
    return found


async def revoke_api_token(
    session: AsyncSession, token_id: int, *, user_id: int | None = None, at: datetime | None = None
) -> bool:
    """Revoke a token (only the given user's, when ``user_id`` is set); False when none was active."""
    query = update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    result = await session.execute(
        query.values(revoked_at=at or datetime.now(UTC))
        .returning(ApiToken.id)
        .execution_options(synchronize_session="fetch")
    )
    return result.scalar_one_or_none() is not None


async def list_api_tokens(
    session: AsyncSession, user_id: int, *, include_revoked: bool = True
) -> list[ApiToken]:
    """A user's tokens, oldest first."""
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list((await session.scalars(query)).all())
