"""The record of synchronisations: one ``sync_runs`` row per sync (its task id), opened and closed by
the worker."""

from datetime import UTC, datetime
from typing import Any, Literal, TypedDict, Unpack

from sqlalchemy import Column, cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONPATH, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db_core import ReadConnection, fetch_rows, select_list
from db_general.models import GeneralBase, SyncRun

_MAX_ERROR_CHARS = 4000
# What a run keeps of its failed attempts: the newest few, each shortened.
MAX_ATTEMPT_ERRORS = 5
_MAX_ATTEMPT_ERROR_CHARS = 500
_NEWEST_ATTEMPTS = f"$[last - {MAX_ATTEMPT_ERRORS - 1} to last]"

# A sync's run as callers of the API see it: its state, the rows it wrote, its failed attempts and
# what it waits for, in words. Not ``error``: that is the closing exception's own text, which may
# name a host or a query.
SYNC_RUN_STATE_COLUMNS: tuple[Column[Any], ...] = tuple(
    GeneralBase.metadata.tables[SyncRun.__tablename__].c[name]
    for name in (
        "status",
        "rows",
        "failed_attempts",
        "attempt_errors",
        "waiting",
        "started_at",
        "finished_at",
    )
)
_STATE_NAMES = tuple(column.name for column in SYNC_RUN_STATE_COLUMNS)
_STATE_OF_TASK = f"SELECT {select_list(SYNC_RUN_STATE_COLUMNS)} FROM sync_runs WHERE task_id = %(task_id)s"  # noqa: S608 (names from the table)


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

    One sync is one row however many times its task runs, one statement whoever runs it at the
    same time: a task that comes back with the same ``task_id`` (its next chunk, a retry, a
    redelivery after its worker died, a duplicated delivery running beside the first) continues
    its row, reopened if a copy had closed it. A second opener waits for the first one's commit.
    """
    opened = insert(SyncRun).values(
        kind=kind,
        task_id=task_id,
        status="running",
        rows=0,
        started_at=started_at or datetime.now(UTC),
        **scope,
    )
    run_id = session.scalar(
        opened.on_conflict_do_update(
            index_elements=[SyncRun.task_id],
            set_={"status": "running", "finished_at": None, "error": None, "waiting": None},
        ).returning(SyncRun.id)
    )
    if run_id is None:  # RETURNING always gives the inserted or the continued row
        raise RuntimeError("sync_runs: no row returned")
    return run_id


def add_sync_run_rows(session: Session, run_id: int, rows: int) -> None:
    """Count ``rows`` more written by the run, in the transaction that wrote them."""
    if rows:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(rows=SyncRun.rows + rows)
            .execution_options(synchronize_session=False)
        )


def record_attempt_error(session: Session, run_id: int, error: str, *, at: datetime | None = None) -> None:
    """Count a failed attempt of the run and keep what it said (the newest ``MAX_ATTEMPT_ERRORS``).

    ``error`` is shown to operators as it is: words about the failure, never a secret or an address.
    """
    entry = func.jsonb_build_array(
        func.jsonb_build_object(
            "at", (at or datetime.now(UTC)).isoformat(), "error", error[:_MAX_ATTEMPT_ERROR_CHARS]
        )
    )
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(
            failed_attempts=SyncRun.failed_attempts + 1,
            attempt_errors=func.jsonb_path_query_array(
                SyncRun.attempt_errors.op("||")(entry), cast(_NEWEST_ATTEMPTS, JSONPATH)
            ),
        )
        .execution_options(synchronize_session=False)
    )


def note_sync_run_waiting(session: Session, run_id: int, words: str) -> None:
    """Say on a running run what it waits for (Bybit's call budget), in words shown to callers of the
    API, until its next start or its end clears them; not a failed attempt, the run stays ``running``."""
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(waiting=words[:_MAX_ATTEMPT_ERROR_CHARS])
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
            waiting=None,
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


async def get_sync_run_state(connection: ReadConnection, task_id: str) -> dict[str, Any] | None:
    """The run of the sync with ``task_id`` (dicts keyed by the names of ``SYNC_RUN_STATE_COLUMNS``;
    ``attempt_errors`` as stored: ``[{"at": ISO time, "error": words}]``, oldest first), or None
    before a worker has opened it."""
    rows = await fetch_rows(connection, _STATE_OF_TASK, {"task_id": task_id})
    return dict(zip(_STATE_NAMES, rows[0], strict=True)) if rows else None


def last_success(session: Session, kind: str) -> datetime | None:
    """When the newest run of ``kind`` that succeeded finished, or None when none has."""
    return session.scalar(
        select(func.max(SyncRun.finished_at)).where(SyncRun.kind == kind, SyncRun.status == "succeeded")
    )
