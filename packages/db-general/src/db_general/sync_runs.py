"""The record of synchronisations: one ``sync_runs`` row per run, opened and closed by the worker."""

from datetime import UTC, datetime
from typing import Literal, TypedDict, Unpack

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db_general.models import SyncRun

_MAX_ERROR_CHARS = 4000


class SyncRunScope(TypedDict, total=False):
    """What a run covers, beyond its kind; what it leaves out is stored as NULL (e.g. every category)."""

    category: str | None
    symbol: str | None
    interval: str | None
    range_start: datetime | None
    range_end: datetime | None


def start_sync_run(
    session: Session,
    *,
    kind: str,
    task_id: str | None = None,
    started_at: datetime | None = None,
    **scope: Unpack[SyncRunScope],
) -> int:
    """Record a run as ``running`` and return its id; the caller commits it at once.

    One sync is one row however many times its task runs: a task that comes back with the same
    ``task_id`` (its next chunk, a retry, a redelivery after its worker died) continues the row it
    left ``running`` instead of opening another.
    """
    if task_id is not None:
        running = session.scalar(
            select(SyncRun.id)
            .where(SyncRun.task_id == task_id, SyncRun.status == "running")
            .order_by(SyncRun.id.desc())
            .limit(1)
        )
        if running is not None:
            return running
    started_at = started_at or datetime.now(UTC)
    run = SyncRun(kind=kind, task_id=task_id, status="running", rows=0, started_at=started_at, **scope)
    session.add(run)
    session.flush()
    return run.id


def add_sync_run_rows(session: Session, run_id: int, rows: int) -> None:
    """Count ``rows`` more written by the run, in the transaction that wrote them."""
    if rows:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(rows=SyncRun.rows + rows)
            .execution_options(synchronize_session=False)
        )


def finish_sync_run(
    session: Session,
    run_id: int,
    *,
    status: Literal["succeeded", "failed"],
    error: str | None = None,
    finished_at: datetime | None = None,
) -> int:
    """Close a run with its outcome and (shortened) error text; return the rows it wrote in all."""
    rows = session.scalar(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(
            status=status,
            error=error[:_MAX_ERROR_CHARS] if error else None,
            finished_at=finished_at or datetime.now(UTC),
        )
        .returning(SyncRun.rows)
        .execution_options(synchronize_session=False)
    )
    return int(rows or 0)


async def list_sync_runs(session: AsyncSession, *, kind: str | None = None, limit: int = 50) -> list[SyncRun]:
    """The newest runs first."""
    query = select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(SyncRun.kind == kind)
    return list((await session.scalars(query)).all())
