"""sync_runs: a run is opened as running and closed with its outcome."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, delete, func, make_url, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session
from test_support.databases import wait_until_blocked_on_a_lock

from core_config import build_settings
from db_core import downgrade, upgrade
from db_general import (
    GENERAL_DB,
    MAX_ATTEMPT_ERRORS,
    SYNC_RUN_STATE_COLUMNS,
    SyncRun,
    add_sync_run_rows,
    close_abandoned_sync_runs,
    finish_sync_run,
    get_sync_run_state,
    list_sync_runs,
    note_sync_run_waiting,
    record_attempt_error,
    start_sync_run,
    sync_run_status,
)


def opened(session: Session, **what: Any) -> int:
    """``start_sync_run`` of a sync that has not ended: its row's id."""
    run_id = start_sync_run(session, **what)
    assert run_id is not None
    return run_id


def test_run_is_recorded_from_start_to_finish(general_sync_session: Session) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    run_id = opened(
        general_sync_session,
        kind="klines",
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        range_start=start,
    )
    run = general_sync_session.get_one(SyncRun, run_id)
    assert (run.status, run.rows, run.finished_at) == ("running", 0, None)

    add_sync_run_rows(general_sync_session, run_id, 4)
    add_sync_run_rows(general_sync_session, run_id, 6)
    assert finish_sync_run(general_sync_session, run_id, status="failed", error="x" * 10_000) == 10
    general_sync_session.expire_all()
    run = general_sync_session.get_one(SyncRun, run_id)
    assert (run.status, run.rows) == ("failed", 10)
    assert run.error is not None
    assert len(run.error) == 4000
    assert run.finished_at is not None


def test_status_is_constrained(general_sync_session: Session) -> None:
    run_id = opened(general_sync_session, kind="instruments")
    with pytest.raises(IntegrityError, match="ck_sync_runs_status"):
        finish_sync_run(general_sync_session, run_id, status="exploded")  # type: ignore[arg-type]


async def test_list_sync_runs_newest_first(
    general_session: AsyncSession, general_connection: AsyncConnection
) -> None:
    general_session.add_all(
        SyncRun(kind="instruments", started_at=datetime(2024, 1, 1, 0, minute, tzinfo=UTC))
        for minute in (1, 3, 2)
    )
    general_session.add(SyncRun(kind="klines", started_at=datetime(2024, 1, 1, 0, 9, tzinfo=UTC)))
    await general_session.flush()
    runs = await list_sync_runs(general_connection, kind="instruments", limit=2)
    assert [r["started_at"].minute for r in runs] == [3, 2]
    assert {r["kind"] for r in runs} == {"instruments"}


def test_a_task_that_comes_back_continues_its_row_until_its_sync_ends(general_sync_session: Session) -> None:
    # Task ids of this test's own: another test may have committed rows of its "task-1".
    task_id = f"comes-back-{uuid.uuid4()}"
    first = opened(general_sync_session, kind="klines", task_id=task_id)
    other = opened(general_sync_session, kind="klines", task_id=f"other-{uuid.uuid4()}")
    add_sync_run_rows(general_sync_session, first, 7)
    # The next chunk, a retry or a redelivery after a worker died: the same row.
    assert opened(general_sync_session, kind="klines", task_id=task_id) == first
    assert finish_sync_run(general_sync_session, first, status="succeeded") == 7
    # A late copy of a chunk whose sync has ended: no row to continue, the end stays as it was.
    assert start_sync_run(general_sync_session, kind="klines", task_id=task_id) is None
    assert finish_sync_run(general_sync_session, first, status="failed", error="late") == 0
    general_sync_session.expire_all()
    run = general_sync_session.get_one(SyncRun, first)
    assert (run.status, run.rows, run.error) == ("succeeded", 7, None)
    assert sync_run_status(general_sync_session, task_id) == ("succeeded", None)
    # Without a task id (a sync run inline) every run is a row of its own.
    assert opened(general_sync_session, kind="klines") != opened(general_sync_session, kind="klines")
    assert other != first


def _open_and_commit(engine: Engine, task_id: str) -> int:
    with Session(engine) as session:
        run_id = opened(session, kind="klines", task_id=task_id)
        session.commit()
    return run_id


def test_a_duplicated_delivery_beside_the_first_opens_no_second_row(general_sync_engine: Engine) -> None:
    task_id = f"duplicated-{uuid.uuid4()}"
    try:
        with Session(general_sync_engine) as first, ThreadPoolExecutor(1) as pool:
            first_id = opened(first, kind="klines", task_id=task_id)  # not committed yet
            second = pool.submit(_open_and_commit, general_sync_engine, task_id)
            # The copy must wait for the first opener's transaction rather than open a row of its own.
            wait_until_blocked_on_a_lock(general_sync_engine, second, "the copy")
            first.commit()
            assert second.result(timeout=10) == first_id
        with general_sync_engine.connect() as connection:
            rows = connection.scalar(
                select(func.count()).select_from(SyncRun).where(SyncRun.task_id == task_id)
            )
        assert rows == 1
    finally:
        with general_sync_engine.begin() as connection:
            connection.execute(delete(SyncRun).where(SyncRun.task_id == task_id))


def _migrated(url: str, revision: str, rows: str, read: str) -> list[tuple[Any, ...]]:
    """Migrate a fresh database to ``revision``, insert ``rows`` into sync_runs (a VALUES list after
    its column list), migrate to head and return what ``read`` selects."""
    settings = build_settings(environment="test")
    upgrade(GENERAL_DB, settings, revision, url=url)
    engine = create_engine(make_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(text(f"INSERT INTO sync_runs {rows}"))
        upgrade(GENERAL_DB, settings, url=url)
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(read))]
    finally:
        engine.dispose()


def test_the_migration_merges_the_rows_a_duplicated_delivery_split(empty_database_url: str) -> None:
    runs = _migrated(
        empty_database_url,
        "0002",
        "(kind, task_id, status, rows, finished_at) VALUES"
        " ('klines', 'split', 'running', 5, NULL),"
        " ('klines', 'split', 'succeeded', 3, now()),"
        " ('klines', 'whole', 'failed', 2, now())",
        "SELECT id, task_id, status, rows FROM sync_runs ORDER BY id",
    )
    # The sync keeps its first row, with every row counted and the newest outcome.
    assert runs == [(1, "split", "succeeded", 8), (3, "whole", "failed", 2)]


def test_failed_attempts_are_counted_and_the_newest_kept(general_sync_session: Session) -> None:
    run_id = opened(general_sync_session, kind="klines", task_id="attempts")
    for attempt in range(MAX_ATTEMPT_ERRORS + 2):
        record_attempt_error(general_sync_session, run_id, f"attempt {attempt} " + "x" * 1000)
    general_sync_session.expire_all()
    run = general_sync_session.get_one(SyncRun, run_id)
    assert run.failed_attempts == MAX_ATTEMPT_ERRORS + 2
    said = [entry["error"].split(" x")[0] for entry in run.attempt_errors]
    assert said == [f"attempt {n}" for n in range(2, MAX_ATTEMPT_ERRORS + 2)]  # the newest, oldest first
    assert all(len(entry["error"]) == 500 and entry["at"] for entry in run.attempt_errors)


def test_the_migration_moves_what_running_rows_waited_for_out_of_error(empty_database_url: str) -> None:
    runs = _migrated(
        empty_database_url,
        "0004",
        "(kind, task_id, status, error) VALUES"
        " ('klines', 'waits', 'running', 'waiting for the ban'),"
        " ('klines', 'failed', 'failed', 'gave up'),"
        " ('klines', 'runs', 'running', NULL)",
        "SELECT task_id, error, waiting FROM sync_runs ORDER BY id",
    )
    assert runs == [("waits", None, "waiting for the ban"), ("failed", "gave up", None), ("runs", None, None)]
    # Downgraded, a running row's words go back where the older code reads them.
    downgrade(GENERAL_DB, build_settings(environment="test"), "0004", url=empty_database_url)
    engine = create_engine(make_url(empty_database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT task_id, error FROM sync_runs ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("waits", "waiting for the ban"),
        ("failed", "gave up"),
        ("runs", None),
    ]


async def test_a_syncs_state_is_read_by_its_task_id_without_the_exception_text(
    general_session: AsyncSession, general_connection: AsyncConnection
) -> None:
    task_id = f"state-{uuid.uuid4()}"
    started, finished = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    said = [{"at": "2024-01-01T00:01:00+00:00", "error": "BybitTransientError: HTTP 502 (retried)"}]
    general_session.add(
        SyncRun(
            kind="klines",
            task_id=task_id,
            status="failed",
            rows=12,
            error="OperationalError: connection to server at db.internal failed",
            failed_attempts=3,
            attempt_errors=said,
            started_at=started,
            finished_at=finished,
        )
    )
    await general_session.flush()
    state = await get_sync_run_state(general_connection, task_id)
    assert state == {
        "status": "failed",
        "rows": 12,
        "failed_attempts": 3,
        "attempt_errors": said,
        "waiting": None,
        "started_at": started,
        "finished_at": finished,
    }
    assert [column.name for column in SYNC_RUN_STATE_COLUMNS] == list(state)
    assert await get_sync_run_state(general_connection, "no-such-task") is None


def test_what_a_run_waits_for_stays_until_it_goes_on_or_ends(general_sync_session: Session) -> None:
    task_id = f"waits-{uuid.uuid4()}"
    run_id = opened(general_sync_session, kind="klines", task_id=task_id)

    def waiting() -> tuple[str, str | None, str | None, int]:
        general_sync_session.expire_all()
        run = general_sync_session.get_one(SyncRun, run_id)
        return run.status, run.waiting, run.error, run.failed_attempts

    note_sync_run_waiting(general_sync_session, run_id, "waiting for the budget " + "x" * 1000)
    status, words, error, failed = waiting()
    # Not a failed attempt, not an error: the run is running and says what it waits for.
    assert (status, error, failed) == ("running", None, 0)
    assert words is not None
    assert words.startswith("waiting for the budget")
    assert len(words) == 500
    # Its retry continues the row and goes on: no longer waiting.
    assert opened(general_sync_session, kind="klines", task_id=task_id) == run_id
    assert waiting() == ("running", None, None, 0)
    note_sync_run_waiting(general_sync_session, run_id, "waiting again")
    finish_sync_run(general_sync_session, run_id, status="failed", error="gave up")
    assert waiting() == ("failed", None, "gave up", 0)


def test_the_sweep_closes_only_running_syncs_silent_since_the_cut(general_sync_session: Session) -> None:
    long_ago = datetime(2024, 1, 1, tzinfo=UTC)
    silent = opened(
        general_sync_session, kind="klines", task_id=f"silent-{uuid.uuid4()}", started_at=long_ago
    )
    ended = opened(general_sync_session, kind="klines", task_id=f"ended-{uuid.uuid4()}", started_at=long_ago)
    assert silent is not None
    assert ended is not None
    finish_sync_run(general_sync_session, ended, status="succeeded")
    live = opened(general_sync_session, kind="klines", task_id=f"live-{uuid.uuid4()}", started_at=long_ago)
    assert live is not None
    add_sync_run_rows(general_sync_session, live, 3)  # a sign of life now
    cut = datetime.now(UTC) - timedelta(minutes=5)
    closed = close_abandoned_sync_runs(general_sync_session, silent_since=cut)
    general_sync_session.expire_all()
    runs = {run_id: general_sync_session.get_one(SyncRun, run_id) for run_id in (silent, ended, live)}
    assert [task_id for task_id in closed if task_id.startswith("silent-")] == [runs[silent].task_id]
    assert (runs[silent].status, runs[silent].failed_attempts) == ("failed", 1)
    assert runs[silent].attempt_errors[-1]["error"].startswith("abandoned")
    assert (runs[ended].status, runs[live].status) == ("succeeded", "running")
