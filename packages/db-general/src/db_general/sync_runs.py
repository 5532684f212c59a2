"""The record of synchronisations: one ``sync_runs`` row per sync (its task id), opened and closed by
the worker."""

from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypedDict, Unpack

from sqlalchemy import Column, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONPATH, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from db_general.models import GeneralBase, SyncRun

_MAX_ERROR_CHARS = 4000
# What a run closed by the sweep says: no task will close it.
ABANDONED = "abandoned: its task stopped without closing it (a worker lost, the database away at its end)"
# What a run keeps of its failed attempts: the newest few, each shortened.
MAX_ATTEMPT_ERRORS = 5
_MAX_ATTEMPT_ERROR_CHARS = 500
_NEWEST_ATTEMPTS = f"$[last - {MAX_ATTEMPT_ERRORS - 1} to last]"
_TABLE = GeneralBase.metadata.tables[SyncRun.__tablename__]

# A sync's run as callers of the API see it: its state, the rows it wrote, its failed attempts and
# what it waits for, in words. Not ``error``: that is the closing exception's own text, which may
# name a host or a query.
SYNC_RUN_STATE_COLUMNS: tuple[Column[Any], ...] = tuple(
    _TABLE.c[name]
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
_STATE_OF_TASK = select(*SYNC_RUN_STATE_COLUMNS).where(_TABLE.c.task_id == bindparam("task_id"))


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
) -> int | None:
    """Record a run as ``running`` and return its id, or None when the sync with ``task_id`` has
    ended (its row is closed); the caller commits it at once.

    One sync is one row however many times its task runs, one statement whoever runs it at the
    same time: a task that comes back with the same ``task_id`` while its sync runs (its next chunk,
    a retry, a redelivery after its worker died, a duplicated delivery running beside the first)
    continues its row; a copy that comes after the sync ended (a redelivered earlier chunk, a second
    send of the same period) finds the row closed and must do nothing. A second opener waits for
    the first one's commit.
    """
    now = started_at or datetime.now(UTC)
    opened = insert(SyncRun).values(
        kind=kind, task_id=task_id, status="running", rows=0, started_at=now, touched_at=now, **scope
    )
    return session.scalar(
        opened.on_conflict_do_update(
            index_elements=[SyncRun.task_id],
            set_={"waiting": None, "touched_at": now},
            where=SyncRun.status == "running",
        ).returning(SyncRun.id)
    )


def add_sync_run_rows(session: Session, run_id: int, rows: int) -> None:
    """Count ``rows`` more written by the run, in the transaction that wrote them."""
    if rows:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(rows=SyncRun.rows + rows, touched_at=func.now())
            .execution_options(synchronize_session=False)
        )


def _one_more_attempt(error: str, at: datetime) -> dict[str, Any]:
    """The values that count a failed attempt and keep what it said (the newest few)."""
    entry = func.jsonb_build_array(
        func.jsonb_build_object("at", at.isoformat(), "error", error[:_MAX_ATTEMPT_ERROR_CHARS])
    )
    return {
        "failed_attempts": SyncRun.failed_attempts + 1,
        "attempt_errors": func.jsonb_path_query_array(
            SyncRun.attempt_errors.op("||")(entry), cast(_NEWEST_ATTEMPTS, JSONPATH)
        ),
        "touched_at": func.now(),
    }


def record_attempt_error(session: Session, run_id: int, error: str, *, at: datetime | None = None) -> None:
    """Count a failed attempt of the run and keep what it said (the newest ``MAX_ATTEMPT_ERRORS``).

    ``error`` is shown to operators as it is: words about the failure, never a secret or an address.
    """
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(**_one_more_attempt(error, at or datetime.now(UTC)))
        .execution_options(synchronize_session=False)
    )


def note_sync_run_waiting(session: Session, run_id: int, words: str) -> None:
    """Say on a running run what it waits for (Bybit's call budget), in words shown to callers of the
    API, until its next start or its end clears them; not a failed attempt, the run stays ``running``."""
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(waiting=words[:_MAX_ATTEMPT_ERROR_CHARS], touched_at=func.now())
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
    """Close a running run with its outcome and (shortened) error text; return the rows it wrote in
    all. A run already closed stays as it was closed (an outcome never changes)."""
    rows = session.scalar(
        update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.status == "running")
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


def close_abandoned_sync_runs(
    session: Session, *, silent_since: datetime, at: datetime | None = None
) -> list[str]:
    """Close as failed every running run untouched since ``silent_since``: its task ended without
    closing it (its worker lost for good, the database away when it ended). Return their task ids."""
    now = at or datetime.now(UTC)
    closed = session.scalars(
        update(SyncRun)
        .where(SyncRun.status == "running", SyncRun.touched_at < silent_since)
        .values(
            **_one_more_attempt(ABANDONED, now),
            status="failed",
            error=ABANDONED,
            waiting=None,
            finished_at=now,
        )
        .returning(SyncRun.task_id)
        .execution_options(synchronize_session=False)
    )
    return [task_id or "" for task_id in closed]


async def list_sync_runs(
    connection: AsyncConnection, *, kind: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest runs first, each a dict keyed by column name."""
    query = select(_TABLE).order_by(_TABLE.c.started_at.desc(), _TABLE.c.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(_TABLE.c.kind == kind)
    return [dict(row) for row in (await connection.execute(query)).mappings()]


async def get_sync_run_state(connection: AsyncConnection, task_id: str) -> dict[str, Any] | None:
    """The run of the sync with ``task_id`` (dicts keyed by the names of ``SYNC_RUN_STATE_COLUMNS``;
    ``attempt_errors`` as stored: ``[{"at": ISO time, "error": words}]``, oldest first), or None
    before a worker has opened it."""
    row = (await connection.execute(_STATE_OF_TASK, {"task_id": task_id})).first()
    return None if row is None else dict(zip(_STATE_NAMES, row, strict=True))


def last_success(session: Session, kind: str) -> datetime | None:
    """When the newest run of ``kind`` that succeeded finished, or None when none has."""
    return session.scalar(
        select(func.max(SyncRun.finished_at)).where(SyncRun.kind == kind, SyncRun.status == "succeeded")
    )


class SyncRunEnd(NamedTuple):
    """How a sync stands: its status, and what its newest failed attempt said (in words), if any."""

    status: str
    last_attempt: str | None


def sync_run_status(session: Session, task_id: str) -> SyncRunEnd | None:
    """How the sync with ``task_id`` stands, or None when no row has it."""
    row = session.execute(
        select(SyncRun.status, SyncRun.attempt_errors[-1]["error"].astext).where(SyncRun.task_id == task_id)
    ).one_or_none()
    return None if row is None else SyncRunEnd(row[0], row[1])
