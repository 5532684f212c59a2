"""The contract's own rules: every task's arguments declared, a status stale after missed writes."""

from datetime import UTC, datetime, timedelta

from worker_contract import (
    MISSED_STATUS_WRITES,
    PING,
    SYNC_INSTRUMENTS,
    SYNC_KLINES,
    TASK_ARGUMENTS,
    StreamStatus,
    stream_status_key,
)


def test_every_sync_task_declares_its_arguments_and_the_ping_takes_none() -> None:
    assert set(TASK_ARGUMENTS) == {SYNC_INSTRUMENTS, SYNC_KLINES}
    assert PING not in TASK_ARGUMENTS
    klines = TASK_ARGUMENTS[SYNC_KLINES]
    assert klines.__required_keys__ == {"category", "symbol", "interval"}  # type: ignore[attr-defined]
    assert klines.__optional_keys__ == {"start_ms", "end_ms"}  # type: ignore[attr-defined]


def test_a_status_is_stale_once_its_writer_missed_enough_writes() -> None:
    written = datetime(2026, 1, 1, tzinfo=UTC)
    status = StreamStatus(at=written, interval_seconds=5.0, connected=True, reconnects=0, topics={})
    assert not status.stale(written + timedelta(seconds=5.0 * MISSED_STATUS_WRITES))
    assert status.stale(written + timedelta(seconds=5.0 * MISSED_STATUS_WRITES + 0.1))
    # Round trip through the JSON the stream process writes and the api reads.
    assert StreamStatus.model_validate_json(status.model_dump_json()) == status
    assert stream_status_key("default") != stream_status_key("other")
