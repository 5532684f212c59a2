"""Trading halts: an operator stops trading for one user or for everyone until the halt is lifted.

A halt is a row (``Halt``), so it holds across restarts and across every process. At most one is in
force per user and one for everyone (a partial unique index): halting again returns the halt in
force, lifting twice finds nothing the second time; both can be repeated safely.
"""

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db_user.models import BybitCredential, Halt


def _target(user_id: int | None) -> ColumnElement[bool]:
    return Halt.user_id.is_(None) if user_id is None else Halt.user_id == user_id


async def halt_trading(
    session: AsyncSession, *, user_id: int | None, reason: str, by: str
) -> tuple[Halt, bool]:
    """Halt trading for ``user_id`` (everyone when None); the halt in force and whether it is new."""
    statement = (
        insert(Halt)
        .values(user_id=user_id, reason=reason, created_by=by)
        .on_conflict_do_nothing(
            index_elements=[func.coalesce(Halt.user_id, 0)], index_where=Halt.lifted_at.is_(None)
        )
        .returning(Halt)
    )
    created = (await session.scalars(statement)).one_or_none()
    if created is not None:
        return created, True
    existing = await session.scalars(select(Halt).where(_target(user_id), Halt.lifted_at.is_(None)))
    return existing.one(), False


async def lift_halt(
    session: AsyncSession, *, user_id: int | None, by: str, at: datetime | None = None
) -> Halt | None:
    """Lift the halt in force for ``user_id`` (the one for everyone when None); None when there was
    none. A user's own halt and the one for everyone are lifted separately."""
    statement = (
        update(Halt)
        .where(_target(user_id), Halt.lifted_at.is_(None))
        .values(lifted_at=at or datetime.now(UTC), lifted_by=by)
        .returning(Halt)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def active_halt(session: AsyncSession, user_id: int) -> Halt | None:
    """The halt that stops ``user_id``'s trading now: the one for everyone first, else their own."""
    query = (
        select(Halt)
        .where(Halt.lifted_at.is_(None), (Halt.user_id.is_(None)) | (Halt.user_id == user_id))
        .order_by(Halt.user_id.nulls_first())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def halts_in_force(session: AsyncSession) -> list[Halt]:
    """Every halt in force, the one for everyone first."""
    query = select(Halt).where(Halt.lifted_at.is_(None)).order_by(Halt.user_id.nulls_first(), Halt.id)
    return list((await session.scalars(query)).all())


async def halted_credentials(session: AsyncSession, halt: Halt) -> list[BybitCredential]:
    """The stored credentials ``halt`` stops: its user's, or every user's for a halt of everyone."""
    query = select(BybitCredential).order_by(BybitCredential.id)
    if halt.user_id is not None:
        query = query.where(BybitCredential.user_id == halt.user_id)
    return list((await session.scalars(query)).all())
