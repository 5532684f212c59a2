"""Leases of keys' accounts to account processes: each key that may trade is followed by one process
at a time, spread evenly over the processes running.

One row per key (``account_leases``): ``holder`` and ``lease_until``. A process claims rows whose lease
ran out (or that are its own) with ``FOR UPDATE SKIP LOCKED``, so two processes claiming at once never
take the same key; it renews what it holds every third of a lease; a process that dies stops renewing
and its keys are free one lease later. A process holding more than its share (the keys over the
account processes alive, ``account_holders``) gives the surplus back, so a process that joins gets
work. Writes of account data do not depend on the lease being exclusive (they are idempotent and
forward-only): the lease only keeps the work from being done twice.
"""

import math
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db_user.account_states import AccountStatus
from db_user.models import AccountHolder, AccountLease, BybitCredential


async def add_missing_leases(session: AsyncSession) -> int:
    """A lease row (free) for every stored key that has none yet; returns how many were added."""
    missing = select(BybitCredential.id).where(
        ~select(AccountLease.credential_id).where(AccountLease.credential_id == BybitCredential.id).exists()
    )
    result = await session.execute(
        insert(AccountLease)
        .from_select(["credential_id"], missing)
        .on_conflict_do_nothing(index_elements=["credential_id"])
        .returning(AccountLease.credential_id)
    )
    return len(result.all())


async def announce_holder(session: AsyncSession, holder: str, lease: timedelta) -> None:
    """``holder`` is alive for ``lease`` more (a process that stops renewing drops out of the count)."""
    statement = insert(AccountHolder).values(holder=holder, alive_until=func.now() + lease)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["holder"], set_={"alive_until": statement.excluded.alive_until}
        )
    )
    # Processes long gone are forgotten (an hour: the operator view still shows a recent death).
    await session.execute(
        delete(AccountHolder).where(AccountHolder.alive_until < func.now() - timedelta(hours=1))
    )


async def retire_holder(session: AsyncSession, holder: str) -> None:
    """``holder`` stops (its keys given back first): it no longer counts."""
    await session.execute(delete(AccountHolder).where(AccountHolder.holder == holder))


async def account_holders(session: AsyncSession) -> list[AccountHolder]:
    """The account processes alive now, by name."""
    query = select(AccountHolder).where(AccountHolder.alive_until > func.now())
    return list((await session.scalars(query.order_by(AccountHolder.holder))).all())


async def fair_share(session: AsyncSession, holder: str) -> int:
    """How many keys ``holder`` should hold: every key over the account processes alive (itself
    counted), rounded up."""
    total = (await session.scalar(select(func.count()).select_from(AccountLease))) or 0
    alive = set(
        (
            await session.scalars(select(AccountHolder.holder).where(AccountHolder.alive_until > func.now()))
        ).all()
    )
    alive.add(holder)
    return math.ceil(total / len(alive))


async def renew_leases(
    session: AsyncSession, holder: str, credential_ids: Collection[int], lease: timedelta
) -> set[int]:
    """Extend ``holder``'s leases of ``credential_ids`` by ``lease``; returns those it still holds (a
    key removed, or a lease lost after running out, is missing)."""
    if not credential_ids:
        return set()
    renewed = await session.scalars(
        update(AccountLease)
        .where(AccountLease.holder == holder, AccountLease.credential_id.in_(list(credential_ids)))
        .values(lease_until=func.now() + lease)
        .returning(AccountLease.credential_id)
        .execution_options(synchronize_session=False)
    )
    return set(renewed.all())


async def claim_leases(session: AsyncSession, holder: str, lease: timedelta, limit: int) -> list[int]:
    """Take up to ``limit`` free keys (no holder, or a lease run out) for ``holder``; rows another
    process is claiming are skipped, never waited for. Returns the keys taken."""
    if limit <= 0:
        return []
    free = (
        select(AccountLease.credential_id)
        .where(or_(AccountLease.holder.is_(None), AccountLease.lease_until < func.now()))
        .order_by(AccountLease.lease_until, AccountLease.credential_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = await session.scalars(
        update(AccountLease)
        .where(AccountLease.credential_id.in_(free))
        .values(
            holder=holder,
            lease_until=func.now() + lease,
            status=AccountStatus.WAITING.value,
            connected=False,
            updated_at=func.now(),
        )
        .returning(AccountLease.credential_id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.all())


async def release_leases(session: AsyncSession, holder: str, credential_ids: Collection[int]) -> None:
    """Give ``holder``'s leases of ``credential_ids`` back at once (free for any process)."""
    if not credential_ids:
        return
    await session.execute(
        update(AccountLease)
        .where(AccountLease.holder == holder, AccountLease.credential_id.in_(list(credential_ids)))
        .values(
            holder=None,
            lease_until=func.now(),
            status=AccountStatus.WAITING.value,
            connected=False,
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )


async def report_account(session: AsyncSession, holder: str, credential_id: int, **fields: Any) -> bool:
    """Write how ``holder``'s account of ``credential_id`` stands (``status``, ``connected``,
    ``last_event_at``, ``last_reconcile_at``, ``last_corrections``, ``problem``, ...); only while it
    holds the lease. Returns whether it did."""
    if "status" in fields:
        fields["status"] = AccountStatus(fields["status"]).value
    result = await session.execute(
        update(AccountLease)
        .where(AccountLease.credential_id == credential_id, AccountLease.holder == holder)
        .values(updated_at=func.now(), **fields)
        .returning(AccountLease.credential_id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


async def account_lease(session: AsyncSession, credential_id: int) -> AccountLease | None:
    """How the account of one key stands (None: no process has seen the key yet)."""
    return await session.get(AccountLease, credential_id, populate_existing=True)


async def account_leases(
    session: AsyncSession,
    credential_ids: Sequence[int] | None = None,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[AccountLease]:
    """The keys' account leases and statuses by key (of ``credential_ids`` when given; ``after`` a
    key id, ``limit`` at most: a page)."""
    query = select(AccountLease).order_by(AccountLease.credential_id)
    if credential_ids is not None:
        query = query.where(AccountLease.credential_id.in_(list(credential_ids)))
    if after is not None:
        query = query.where(AccountLease.credential_id > after)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all())


async def lease_shares(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Each holder's live leases: (keys held, of them live)."""
    query = (
        select(
            AccountLease.holder,
            func.count(),
            func.count().filter(AccountLease.status == AccountStatus.LIVE.value),
        )
        .where(AccountLease.holder.is_not(None), AccountLease.lease_until > func.now())
        .group_by(AccountLease.holder)
    )
    return {holder: (held, live) for holder, held, live in (await session.execute(query)).all()}


def lease_alive(lease: AccountLease, now: datetime) -> bool:
    """Whether a process holds the lease at ``now``."""
    return lease.holder is not None and lease.lease_until > now
