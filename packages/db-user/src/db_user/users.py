"""User queries: create, disable, and look up by id or by email (case-insensitively)."""

from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db_user.models import User


class EmailTakenError(ValueError):
    """Another user already has this email (compared case-insensitively)."""


async def create_user(session: AsyncSession, email: str) -> User:
    """Add a user; raises ``EmailTakenError`` when the email is taken in any letter case.

    Runs in a savepoint so a duplicate leaves the caller's transaction usable.
    """
    user = User(email=email.strip())
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        if "uq_users_email_lower" in str(exc.orig):
            raise EmailTakenError(f"a user with email {email.strip()!r} already exists") from None
        raise
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """Served by the unique index on ``lower(email)``."""
    query = select(User).where(func.lower(User.email) == email.strip().lower())
    return (await session.scalars(query)).one_or_none()


async def disable_user(session: AsyncSession, user_id: int, *, at: datetime | None = None) -> bool:
    """Disable a user: none of their tokens is accepted any more. False when already disabled."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.disabled_at.is_(None))
        .values(disabled_at=at or datetime.now(UTC))
        .returning(User.id)
        .execution_options(synchronize_session="fetch")
    )
    return result.scalar_one_or_none() is not None
