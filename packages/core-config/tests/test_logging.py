"""Log lines: JSON with bound context fields in production, key=value text locally."""

import json
import logging

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
