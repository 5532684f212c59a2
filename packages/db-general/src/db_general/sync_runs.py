"""The record of synchronisations: one ``sync_runs`` row per run, opened and closed by the worker."""

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db_general.models import SyncRun

_MAX_ERROR_CHARS = 4000
INTERRUPTED = "interrupted: the worker stopped before the run finished; the task was run again"


def start_sync_run(
    session: Session,
    *,
    kind: str,
    category: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
    task_id: str | None = None,
    started_at: datetime | None = None,
) -> int:
    """Record a run as ``running``; return its id. Commit it on its own so a crash leaves a trace.

    A task run again after its worker died comes back with the same ``task_id``: the run that
    worker left ``running`` is closed as failed (``INTERRUPTED``), so no row stays running forever.
    """
    now = started_at or datetime.now(UTC)
    if task_id is not None:
        session.execute(
            update(SyncRun)
            .where(SyncRun.task_id == task_id, SyncRun.status == "running")
            .values(status="failed", error=INTERRUPTED, finished_at=now)
            .execution_options(synchronize_session=False)
        )
    run = SyncRun(
        kind=kind,
        category=category,
        symbol=symbol,
        interval=interval,
        range_start=range_start,
        range_end=range_end,
        task_id=task_id,
        status="running",
        rows=0,
        started_at=now,
    )
    session.add(run)
    session.flush()
    return run.id


def finish_sync_run(
    session: Session,
    run_id: int,
    *,
    status: Literal["succeeded", "failed"],
    rows: int,
    error: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Close a run with its outcome, row count and (shortened) error text."""
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(
            status=status,
            rows=rows,
            error=error[:_MAX_ERROR_CHARS] if error else None,
            finished_at=finished_at or datetime.now(UTC),
        )
        .execution_options(synchronize_session=False)
    )


async def list_sync_runs(session: AsyncSession, *, kind: str | None = None, limit: int = 50) -> list[SyncRun]:
    """The newest runs first."""
    query = select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(SyncRun.kind == kind)
    return list((await session.scalars(query)).all())
