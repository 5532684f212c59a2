"""The trace id and span id of the work being done, for log lines.

``trace_fields()`` is what a log line adds beside the request id; ``add_trace_fields`` is the same
as a structlog processor, and ``install_log_record_fields`` puts them on standard-library records.
Each line looks the current span up once: structlog's lines in the processor, the standard
library's in the record factory. With tracing off each is a no-op that imports nothing.
"""

import logging
from collections.abc import MutableMapping
from typing import Any

from structlog.contextvars import get_contextvars

from core_config import REQUEST_ID

_tracing = False


def _enable() -> None:
    global _tracing  # noqa: PLW0603 - switched on once, when the process starts tracing
    _tracing = True


def bound_ids() -> dict[str, str]:
    """The request id and task id bound to the work in progress (the log lines' fields), if any."""
    request_id = REQUEST_ID.get()
    if request_id is not None:  # the API's request: its id has a variable of its own
        return {"request_id": request_id}
    # A task (sent by a request or not): structlog's context copies every variable, so read once.
    bound = get_contextvars()
    fields = {"request_id": bound.get("request_id"), "task_id": bound.get("task_id")}
    return {name: str(value) for name, value in fields.items() if value is not None}


def trace_fields() -> dict[str, str]:
    """``{"trace_id": 32 hex digits, "span_id": 16}`` of the current span; empty with no span."""
    if not _tracing:
        return {}
    from opentelemetry import trace  # noqa: PLC0415 - loaded only once tracing is on

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def add_trace_fields(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current trace id and span id beside the line's other fields, unless
    the line brings its own (the API's access line: those of the request's span, read before it ended)."""
    if _tracing and "trace_id" not in event_dict:
        event_dict.update(trace_fields())
    return event_dict


def install_log_record_fields() -> None:
    """Stamp ``trace_id`` and ``span_id`` on every standard-library log record made inside a span."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "_adds_trace_fields", False):
        return

    def record_with_trace(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if record.name is None or isinstance(record.msg, dict):
            # A copy being made (``logging.makeLogRecord``, as structlog's formatter does per
            # handler: the copied record's fields follow) or structlog's line (its event dict is
            # the message, where ``add_trace_fields`` put the ids): the span is looked up once per line.
            return record
        fields = trace_fields()
        if fields:
            record.__dict__.update(fields)
        return record

    record_with_trace._adds_trace_fields = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_trace)
