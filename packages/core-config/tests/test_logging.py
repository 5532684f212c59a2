"""Log lines: JSON with bound context fields in production, key=value text locally."""

import asyncio
import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core_config import bind_log_context, configure_logging, log_line
from core_config.logging_setup import HOLD_SECONDS


@pytest.fixture
def restore_root_logger() -> object:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield root
    root.handlers[:], level = saved
    root.setLevel(level)


def test_json_lines_carry_bound_context(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True)
    with bind_log_context(request_id="req-1"):
        logging.getLogger("x").info("hello %s", "world", extra={"status": 200})
    logging.getLogger("x").debug("hidden below INFO")
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["message"] == "hello world"
    assert record["request_id"] == "req-1"
    assert record["status"] == 200
    assert record["level"] == "INFO"


def test_text_lines_show_extras(restore_root_logger: object, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", json_lines=False)
    with bind_log_context(task_id="t-9"):
        logging.getLogger("y").warning("careful")
    (line,) = capsys.readouterr().err.splitlines()
    assert "WARNING" in line
    assert line.endswith("careful task_id=t-9")


def test_json_time_is_iso_8601_utc_with_milliseconds(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True)
    before = datetime.now(UTC)
    logging.getLogger("x").info("first")
    logging.getLogger("x").info("second")
    after = datetime.now(UTC)
    for line in capsys.readouterr().err.splitlines():
        written = json.loads(line)["time"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", written)
        assert before - timedelta(milliseconds=1) <= datetime.fromisoformat(written) <= after


def test_text_line_keeps_extras_on_the_first_line_and_the_traceback_after(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    with bind_log_context(request_id="req-2"):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("z").exception("failed")
    first, *rest = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d ERROR   z: failed request_id=req-2", first)
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "RuntimeError: boom"


def test_uvicorn_colour_copy_of_the_message_is_not_repeated(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    logging.getLogger("colour.test").info("Started %s", "server", extra={"color_message": "Started %s"})
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("colour.test: Started server")


def _without_time(line: str, json_lines: bool) -> object:
    if json_lines:
        fields = json.loads(line)
        del fields["time"]
        return fields
    return line.split(" ", 1)[1]  # the text line starts with HH:MM:SS


@pytest.mark.parametrize("json_lines", [True, False])
def test_log_line_writes_the_line_logging_writes(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    configure_logging("INFO", json_lines=json_lines)
    access = logging.getLogger("api.access")
    with bind_log_context(request_id="r-1"):
        log_line(access, logging.INFO, "GET /x 200", {"status": 200, "duration_ms": 0.5})
        access.info("GET /x 200", extra={"status": 200, "duration_ms": 0.5})
    direct, through_logging = capsys.readouterr().err.splitlines()
    assert _without_time(direct, json_lines) == _without_time(through_logging, json_lines)
    assert "request_id" in direct
    assert "r-1" in direct


def test_log_line_keeps_to_the_level(restore_root_logger: object, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", json_lines=False)
    log_line(logging.getLogger("api.access"), logging.INFO, "GET /x 200", {})
    log_line(logging.getLogger("api.access"), logging.WARNING, "GET /y 200", {})
    (line,) = capsys.readouterr().err.splitlines()
    assert "GET /y 200" in line


def test_log_line_goes_through_logging_when_another_handler_listens(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    records: list[logging.LogRecord] = []

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    listener = Listener()
    access = logging.getLogger("api.access")
    access.addHandler(listener)
    try:
        with bind_log_context(request_id="r-2"):
            log_line(access, logging.INFO, "GET /z 404", {"status": 404})
    finally:
        access.removeHandler(listener)
    (record,) = records
    assert (record.getMessage(), record.status, record.request_id) == ("GET /z 404", 404, "r-2")  # type: ignore[attr-defined]
    (line,) = capsys.readouterr().err.splitlines()  # still written once by the configured handler
    assert line.endswith("GET /z 404 request_id=r-2 status=404")


def test_log_line_makes_no_record_when_only_the_configured_handler_listens(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("INFO", json_lines=True)
    made: list[str] = []
    make_record = logging.Logger.makeRecord

    def counting(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        made.append(self.name)
        return make_record(self, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "makeRecord", counting)
    log_line(logging.getLogger("api.access"), logging.INFO, "GET /x 200", {"status": 200})
    assert made == []
    assert json.loads(capsys.readouterr().err)["status"] == 200


def _messages(written: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in written.splitlines()]


async def test_lines_in_an_event_loop_are_held_briefly_and_written_together(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    access = logging.getLogger("api.access")
    log_line(access, logging.INFO, "GET /1 200", {})
    await asyncio.sleep(0)
    log_line(access, logging.INFO, "GET /2 200", {})
    assert capsys.readouterr().err == ""  # held across turns of the loop, for a moment
    await asyncio.sleep(HOLD_SECONDS * 4)
    assert _messages(capsys.readouterr().err) == ["GET /1 200", "GET /2 200"]


async def test_a_line_logged_otherwise_comes_after_the_held_ones(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    log_line(logging.getLogger("api.access"), logging.INFO, "GET /1 500", {})
    logging.getLogger("api.errors").error("boom")
    assert _messages(capsys.readouterr().err) == ["GET /1 500", "boom"]
    await asyncio.sleep(HOLD_SECONDS * 4)
    assert capsys.readouterr().err == ""  # nothing written twice


async def test_flush_writes_what_is_held(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    log_line(logging.getLogger("api.access"), logging.INFO, "GET /1 200", {})
    logging.getLogger().handlers[0].flush()  # what logging.shutdown does at exit
    assert capsys.readouterr().err.endswith("GET /1 200\n")


def test_a_field_orjson_refuses_is_still_written(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True)
    log_line(logging.getLogger("api.access"), logging.INFO, "big", {"big": 2**70})
    assert json.loads(capsys.readouterr().err)["big"] == 2**70


class _RecordingStream(io.StringIO):
    line_buffering = True

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, text: str) -> int:
        self.sizes.append(len(text.encode()))
        return super().write(text)


@pytest.mark.parametrize("path", ["/ascii", "/non-ascii-é"])
async def test_held_lines_are_written_in_pieces_a_pipe_never_interleaves(
    restore_root_logger: object, path: str
) -> None:
    configure_logging("INFO", json_lines=True)
    stream = _RecordingStream()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    for number in range(100):
        log_line(logging.getLogger("api.access"), logging.INFO, f"GET {path} {number}", {"n": number})
    await asyncio.sleep(HOLD_SECONDS * 4)
    assert [json.loads(line)["n"] for line in stream.getvalue().splitlines()] == list(range(100))
    assert len(stream.sizes) > 1
    assert max(stream.sizes) <= 4096


def test_another_record_factory_sees_every_line(
    restore_root_logger: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True)
    ours = logging.getLogRecordFactory()

    def with_trace_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = ours(*args, **kwargs)
        record.trace_id = "t-1"
        return record

    logging.setLogRecordFactory(with_trace_id)
    try:
        log_line(logging.getLogger("api.access"), logging.INFO, "GET /x 200", {})
    finally:
        logging.setLogRecordFactory(ours)
    assert json.loads(capsys.readouterr().err)["trace_id"] == "t-1"
