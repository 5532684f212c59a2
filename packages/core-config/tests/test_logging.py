"""Log lines: JSON with the context fields in production, readable text locally, for structlog's
lines and the standard library's alike, written through ``logging`` the moment they are logged."""

import asyncio
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from pydantic import SecretStr

from core_config import REQUEST_ID, bind_log_context, configure_logging, get_logger, log_formatter

SECRET = "hunter2-canary"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Where the configured handler writes; the root logger and structlog are restored after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    written = io.StringIO()
    yield written
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()


def configure(stream: io.StringIO, level: str = "INFO", *, json_lines: bool) -> None:
    configure_logging(level, json_lines=json_lines)
    handler = logging.getLogger().handlers[-1]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def json_lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_request_id_and_bound_fields(stream: io.StringIO) -> None:
    configure(stream, json_lines=True)
    token = REQUEST_ID.set("req-1")
    try:
        with bind_log_context(task_id="t-9"):
            get_logger("ours").info("GET /x 200", status=200)
            logging.getLogger("theirs").info("hello %s", "world", extra={"status": 201})
    finally:
        REQUEST_ID.reset(token)
    get_logger("ours").debug("hidden below INFO")
    logging.getLogger("theirs").debug("hidden below INFO")
    get_logger("ours").info("after the request")
    ours, theirs, after = json_lines_of(stream)
    assert ours == ours | {"message": "GET /x 200", "status": 200, "level": "info", "logger": "ours"}
    assert theirs == theirs | {"message": "hello world", "status": 201, "level": "info", "logger": "theirs"}
    for line in (ours, theirs):
        assert (line["request_id"], line["task_id"]) == ("req-1", "t-9")
    assert "request_id" not in after
    assert "task_id" not in after


def test_json_time_is_iso_8601_utc(stream: io.StringIO) -> None:
    configure(stream, json_lines=True)
    before = datetime.now(UTC)
    get_logger("x").info("first")
    logging.getLogger("x").info("second")
    after = datetime.now(UTC)
    for line in json_lines_of(stream):
        written = str(line["time"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", written)
        assert before - timedelta(milliseconds=1) <= datetime.fromisoformat(written) <= after


def test_text_lines_show_level_logger_message_and_fields(stream: io.StringIO) -> None:
    configure(stream, "DEBUG", json_lines=False)
    with bind_log_context(task_id="t-9"):
        logging.getLogger("y").warning("careful", extra={"attempt": 2})
        get_logger("z").debug("looked %s times", 3, symbol="BTCUSDT")
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d \[warning *\] careful \[y\] task_id=t-9 attempt=2", first)
    assert re.fullmatch(r"\d\d:\d\d:\d\d \[debug *\] looked 3 times \[z\] symbol=BTCUSDT task_id=t-9", second)


@pytest.mark.parametrize("from_structlog", [True, False])
def test_text_line_comes_first_and_the_traceback_after(stream: io.StringIO, from_structlog: bool) -> None:
    configure(stream, json_lines=False)
    with bind_log_context(request_id="req-2"):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            (get_logger("z") if from_structlog else logging.getLogger("z")).exception("failed")
    first, *rest = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d \[error *\] failed \[z\] request_id=req-2", first)
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "RuntimeError: boom"


@pytest.mark.parametrize("from_structlog", [True, False])
def test_json_line_holds_the_traceback(stream: io.StringIO, from_structlog: bool) -> None:
    configure(stream, json_lines=True)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        (get_logger("z") if from_structlog else logging.getLogger("z")).exception("failed")
    (line,) = json_lines_of(stream)
    assert line["message"] == "failed"
    assert str(line["exception"]).startswith("Traceback (most recent call last):")
    assert str(line["exception"]).endswith("RuntimeError: boom")


def test_uvicorn_lines_are_rendered_once_without_the_colour_copy(stream: io.StringIO) -> None:
    for name in ("uvicorn", "uvicorn.error"):  # what uvicorn's own configuration leaves behind
        logging.getLogger(name).addHandler(logging.StreamHandler(io.StringIO()))
        logging.getLogger(name).propagate = False
        logging.getLogger(name).setLevel(logging.INFO)
    configure(stream, json_lines=True)
    logging.getLogger("uvicorn.error").info("Started %s", "server", extra={"color_message": "Started %s"})
    (line,) = json_lines_of(stream)
    assert line["message"] == "Started server"
    assert line["logger"] == "uvicorn.error"
    assert "color_message" not in line


def test_structlog_loggers_write_through_the_same_handler(stream: io.StringIO) -> None:
    configure(stream, json_lines=True)
    structlog.get_logger("elsewhere").warning("through structlog's own entry", n=1)
    (line,) = json_lines_of(stream)
    assert line == line | {"message": "through structlog's own entry", "n": 1, "logger": "elsewhere"}


def test_caplog_sees_the_record_production_writes(
    stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    configure(stream, json_lines=True)
    caplog.handler.setFormatter(log_formatter(json_lines=True))
    token = REQUEST_ID.set("r-2")
    try:
        get_logger("api.access").info("GET /z 404", status=404)
    finally:
        REQUEST_ID.reset(token)
    (record,) = caplog.records
    assert isinstance(record.msg, dict)
    assert (record.msg["event"], record.msg["status"], record.msg["request_id"]) == ("GET /z 404", 404, "r-2")
    (written,) = stream.getvalue().splitlines()
    assert caplog.text.splitlines() == [written]


async def test_a_line_is_written_when_it_is_logged(stream: io.StringIO) -> None:
    configure(stream, json_lines=True)
    get_logger("api.access").info("GET /1 200")
    assert [line["message"] for line in json_lines_of(stream)] == ["GET /1 200"]
    await asyncio.sleep(0)
    assert len(json_lines_of(stream)) == 1


def test_a_line_logged_just_before_a_crash_is_written() -> None:
    # Inside a running event loop, as the API logs its access lines.
    crash = (
        "import asyncio, os\n"
        "from core_config import configure_logging, get_logger\n"
        "async def serve():\n"
        "    get_logger('api.access').info('GET /last 200')\n"
        "    os._exit(70)\n"  # no flush, no atexit: a killed process
        "configure_logging('INFO', json_lines=True)\n"
        "asyncio.run(serve())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", crash], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 70
    assert [json.loads(line)["message"] for line in done.stderr.splitlines()] == ["GET /last 200"]


def test_a_field_orjson_refuses_is_still_written(stream: io.StringIO) -> None:
    configure(stream, json_lines=True)
    get_logger("x").info("big", big=2**70)
    assert json_lines_of(stream)[0]["big"] == 2**70


@pytest.mark.parametrize("json_lines", [True, False])
def test_a_secret_field_is_written_masked(stream: io.StringIO, json_lines: bool) -> None:
    configure(stream, json_lines=json_lines)
    url = SecretStr(f"postgresql://app:{SECRET}@db/app")
    get_logger("x").info("connecting", url=url)
    logging.getLogger("y").info("connecting to %s", url, extra={"url": url})
    with bind_log_context(url=url):
        get_logger("x").info("bound")
    written = stream.getvalue()
    assert len(written.splitlines()) == 3
    assert SECRET not in written
    assert "**********" in written
