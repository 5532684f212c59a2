"""sync_runs: a run is opened as running and closed with its outcome."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db_general import SyncRun, add_sync_run_rows, finish_sync_run, list_sync_runs, start_sync_run


def test_run_is_recorded_from_start_to_finish(general_sync_session: Session) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    run_id = start_sync_run(
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
    run_id = start_sync_run(general_sync_session, kind="instruments")
    with pytest.raises(IntegrityError, match="ck_sync_runs_status"):
        finish_sync_run(general_sync_session, run_id, status="exploded")  # type: ignore[arg-type]


async def test_list_sync_runs_newest_first(general_session: AsyncSession) -> None:
    general_session.add_all(
        SyncRun(kind="instruments", started_at=datetime(2024, 1, 1, 0, minute, tzinfo=UTC))
        for minute in (1, 3, 2)
    )
    await general_session.flush()
    runs = await list_sync_runs(general_session, kind="instruments", limit=2)
    assert [r.started_at.minute for r in runs] == [3, 2]


def test_a_task_that_comes_back_continues_its_running_row(general_sync_session: Session) -> None:
    first = start_sync_run(general_sync_session, kind="klines", task_id="task-1")
    other = start_sync_run(general_sync_session, kind="klines", task_id="task-2")
    # The next chunk, a retry or a redelivery after a worker died: the same row.
    assert start_sync_run(general_sync_session, kind="klines", task_id="task-1") == first
    finish_sync_run(general_sync_session, first, status="succeeded")
    # Once closed, the same task id (a result looked up again much later) opens a new row.
    again = start_sync_run(general_sync_session, kind="klines", task_id="task-1")
    assert again not in (first, other)
    assert start_sync_run(general_sync_session, kind="klines") not in (first, other, again)
