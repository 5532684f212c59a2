"""Process-wide logging with structlog: JSON lines in staging and production, readable text locally.

Our code logs with ``get_logger(__name__)`` (structlog, fields as keywords). Records of the
standard library (uvicorn, celery, sqlalchemy, ``logging.getLogger(__name__)`` with ``extra=``)
reach the same handler and are rendered by the same ``structlog.stdlib.ProcessorFormatter``. Every
line goes through ``logging`` (so pytest's ``caplog`` sees what production writes) and is written
when it is logged: nothing is held back, nothing is lost on a crash.

Context: the request being served has its own ContextVar, ``REQUEST_ID``; other fields (a task id)
are bound for a block with ``bind_log_context(**fields)``. Both appear on every line logged inside.
"""

import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from structlog.contextvars import bound_contextvars, merge_contextvars
from structlog.dev import ConsoleRenderer, plain_traceback
from structlog.processors import EventRenamer, JSONRenderer, format_exc_info
from structlog.stdlib import BoundLogger, ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

_HANDLER_NAME = "core_config"
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def _add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _drop_copies(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Attributes another formatter left on the record, and uvicorn's colour copy of its message.
    for key in ("message", "asctime", "color_message"):
        event_dict.pop(key, None)
    return event_dict


def _time_logged(json_lines: bool) -> Processor:
    """The record's creation time (the moment it was logged, the same for every handler)."""

    def add_time(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        created = event_dict["_record"].created
        if json_lines:
            event_dict["time"] = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        else:
            event_dict["time"] = time.strftime("%H:%M:%S", time.localtime(created))
        return event_dict

    return add_time


# What every line gets, from structlog or from the standard library, before it becomes a record.
_CONTEXT: list[Processor] = [
    merge_contextvars,
    _add_request_id,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
]
_STRUCTLOG_CHAIN: list[Processor] = [
    structlog.stdlib.filter_by_level,
    *_CONTEXT,
    structlog.stdlib.PositionalArgumentsFormatter(),
    ProcessorFormatter.wrap_for_formatter,
]


def add_log_processor(processor: Processor) -> None:
    """Run ``processor`` on every line of ours after the context fields, from now on (core-telemetry
    adds the trace id and span id this way). Records of the standard library get such fields as
    record attributes, which every line shows, so the processor is not run on them as well."""
    if processor not in _STRUCTLOG_CHAIN:
        _STRUCTLOG_CHAIN.insert(len(_STRUCTLOG_CHAIN) - 2, processor)


def bound_logger(name: str) -> BoundLogger:
    """A structlog logger writing through the standard ``logging.getLogger(name)`` (what
    ``core_config.get_logger`` hands out, on its first line)."""
    return BoundLogger(logging.getLogger(name), _STRUCTLOG_CHAIN, {})


# ``with bind_log_context(**fields):`` adds the fields to every line logged inside the block (this
# task or thread only).
bind_log_context = bound_contextvars


def _json_text(event_dict: Any, **_: Any) -> str:
    try:
        return orjson.dumps(event_dict, default=str).decode()
    except orjson.JSONEncodeError:  # what orjson refuses (an int past 64 bits), json writes
        return json.dumps(event_dict, default=str)


def _renderers(json_lines: bool) -> list[Processor]:
    if json_lines:
        return [format_exc_info, EventRenamer("message"), JSONRenderer(serializer=_json_text)]
    # A plain traceback always: structlog would draw rich's boxes whenever rich happens to be
    # installed (a dev tool brings it in), and a log line must not depend on that.
    console = ConsoleRenderer(
        colors=False,
        timestamp_key="time",
        pad_event_to=0,
        sort_keys=False,
        exception_formatter=plain_traceback,
    )
    return [console]


def log_formatter(*, json_lines: bool) -> logging.Formatter:
    """The formatter of every line: JSON objects or readable text."""
    return ProcessorFormatter(
        foreign_pre_chain=[*_CONTEXT, structlog.stdlib.ExtraAdder(), _drop_copies],
        processors=[
            _time_logged(json_lines),
            ProcessorFormatter.remove_processors_meta,
            *_renderers(json_lines),
        ],
    )


def configure_logging(level: str, *, json_lines: bool) -> None:
    """Send every logger's records to stderr in the chosen format; idempotent. Handlers others
    attached to the root logger (pytest's ``caplog``, an error reporter) stay."""
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(log_formatter(json_lines=json_lines))
    root = logging.getLogger()
    root.handlers[:] = [*(other for other in root.handlers if other.name != _HANDLER_NAME), handler]
    root.setLevel(level)
    # Their own handlers would print lines twice or in another format; uvicorn's access log is left
    # to the server's access_log switch.
    for name in ("uvicorn", "uvicorn.error", "celery"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # ``structlog.get_logger()`` writes as ``get_logger`` does.
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        logger_factory=logging.getLogger,
        wrapper_class=BoundLogger,
        cache_logger_on_first_use=True,
    )
