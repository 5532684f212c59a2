"""Log lines: JSON with bound context fields in production, key=value text locally."""

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest

from core_config import bind_log_context, configure_logging


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
