"""Process-wide logging: JSON lines in staging and production, readable text locally.

Fields bound with ``bind_log_context`` (a request id, a task id) are added to every line logged
in the same context, so one request's or one task's lines can be found together.

The API writes one line per request, so the path from a logging call to the written line is kept
short: no caller, thread or process look-ups that no line of ours shows, and the time text is made
once per second rather than once per line.
"""

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_log_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)
# Record attributes that are not extra fields; uvicorn's ``color_message`` repeats the message.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class _LogContextBinding(AbstractContextManager[None]):
    # A class rather than a @contextmanager generator: the API enters one per request.
    __slots__ = ("_fields", "_token")

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __enter__(self) -> None:
        self._token = _log_context.set({**(_log_context.get() or {}), **self._fields})

    def __exit__(self, *_: object) -> None:
        _log_context.reset(self._token)


def bind_log_context(**fields: Any) -> AbstractContextManager[None]:
    """Add ``fields`` to every log line written inside the block."""
    return _LogContextBinding(fields)


def current_log_context() -> dict[str, Any]:
    return dict(_log_context.get() or {})


def _install_context_record_factory() -> None:
    """Stamp bound fields on every record when it is made, so every handler sees them."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "_adds_log_context", False):
        return

    def record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        fields = _log_context.get()
        if fields:
            record.__dict__.update(fields)
        return record

    record_with_context._adds_log_context = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_context)


_install_context_record_factory()


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller or a bound context added to the record, in the order they were added."""
    return {
        key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRS and key[:1] != "_"
    }


class _SecondCache:
    """The text of the current second, remade only when the second changes."""

    def __init__(self, render: Callable[[int], str]) -> None:
        self._render = render
        self._cached = (-1, "")  # one attribute: threads never see one second with another's text

    def text(self, created: float) -> str:
        second, text = self._cached
        if int(created) != second:
            second = int(created)
            text = self._render(second)
            self._cached = (second, text)
        return text


class _LineFormatter(logging.Formatter):
    """A formatter that renders a line from its parts, so that ``log_line`` can render the same
    line without a record. ``format`` gathers the parts of a record; subclasses ``render``."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        after = [record.exc_text] if record.exc_text else []
        if record.stack_info:
            after.append(self.formatStack(record.stack_info))
        fields, trace = _extra_fields(record), "\n".join(after)
        return self.render(record.created, record.levelname, record.name, record.message, fields, trace)

    def render(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any],
        exception: str = "",
    ) -> str:
        raise NotImplementedError


class JsonFormatter(_LineFormatter):
    """One JSON object per line: time, level, logger, message, then every extra field."""

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _SecondCache(
            lambda second: datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        )

    def render(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any],
        exception: str = "",
    ) -> str:
        line: dict[str, Any] = {
            # ISO 8601 UTC with milliseconds, as isoformat(timespec="milliseconds") writes it.
            "time": f"{self._seconds.text(created)}.{int(created * 1000) % 1000:03d}+00:00",
            "level": level,
            "logger": logger,
            "message": message,
            **fields,
        }
        if exception:
            line["exception"] = exception
        try:
            return orjson.dumps(line, default=str).decode()
        except orjson.JSONEncodeError:  # what orjson refuses (an int past 64 bits), json writes
            return json.dumps(line, default=str)


_PADDED_LEVELS = {name: f"{name:<7}" for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}


class TextFormatter(_LineFormatter):
    """Readable lines for a terminal (``HH:MM:SS LEVEL logger: message``), extras as key=value."""

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _SecondCache(lambda second: time.strftime("%H:%M:%S", self.converter(second)))

    def render(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any],
        exception: str = "",
    ) -> str:
        padded_level = _PADDED_LEVELS.get(level) or f"{level:<7}"
        parts = [self._seconds.text(created), padded_level, f"{logger}:", message]
        parts += [f"{key}={value}" for key, value in fields.items()]
        text = " ".join(parts)
        return f"{text}\n{exception}" if exception else text


def _skip_unused_record_lookups() -> None:
    """Records stop looking up what no format of ours shows: the caller's file and line (a stack
    walk), the thread name, the process id and name."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


_PIPE_BUF = 4096
HOLD_SECONDS = 0.05


class _LineHandler(logging.StreamHandler[TextIO]):
    """A ``StreamHandler`` writing whole lines, with two savings for lines written on every request:

    - no flush after each line when the stream writes each line through by itself (a
      line-buffered stream such as ``sys.stderr``);
    - lines from ``log_line`` inside a running event loop are held for at most ``HOLD_SECONDS``
      (or until they fill a pipe's atomic write) and written together, as a web server's buffered
      access log is: one write for many requests, where a write per line cost a sixth of a market
      listing. They go out in pieces no longer than a pipe writes at once, so workers sharing one
      stderr never tear each other's lines. A line logged any other way first writes what is held,
      so lines keep their order; ``flush`` (at exit too) writes what is held.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._flush_each_line = not getattr(stream, "line_buffering", False)
        self._held: list[str] = []
        self._held_size = 0
        self._flush_scheduled_on: asyncio.AbstractEventLoop | None = None
        assert self.lock is not None  # made by Handler.__init__
        self._line_lock = self.lock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            if self._held:
                self._write_held_now()
            self._write(line)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        if self._flush_each_line:
            self.stream.flush()

    def _write_held_now(self) -> None:
        held, self._held, self._held_size = self._held, [], 0
        # A write to a pipe of at most PIPE_BUF bytes (4,096 on Linux) is never interleaved with
        # another process's; a character takes up to 4 bytes unless the text is ASCII.
        limit = _PIPE_BUF if all(line.isascii() for line in held) else _PIPE_BUF // 4
        piece: list[str] = []
        size = 0
        for line in held:
            if piece and size + len(line) > limit:
                self._write("".join(piece))
                piece, size = [], 0
            piece.append(line)
            size += len(line)
        if piece:
            self._write("".join(piece))

    def _write_held(self) -> None:
        with self._line_lock:
            self._flush_scheduled_on = None
            if self._held:
                try:
                    self._write_held_now()
                except Exception:
                    self.handleError(logging.makeLogRecord({"msg": "held log lines could not be written"}))

    def flush(self) -> None:
        self._write_held()
        super().flush()

    def setStream(self, stream: TextIO) -> TextIO | None:  # noqa: N802 (logging's name)
        previous = super().setStream(stream)
        self._flush_each_line = not getattr(stream, "line_buffering", False)
        return previous

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 (logging's name)
        if not isinstance(fmt, _LineFormatter):
            raise TypeError("a line handler renders with JsonFormatter or TextFormatter")
        super().setFormatter(fmt)
        self._render = fmt.render

    def write_line(self, logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
        """Write what ``emit`` would write for this record, without making the record."""
        loop = asyncio._get_running_loop()
        try:
            line = self._render(time.time(), logging.getLevelName(level), logger.name, message, fields)
            line += self.terminator
            with self._line_lock:
                if loop is None:
                    if self._held:
                        self._write_held_now()
                    self._write(line)
                    return
                self._held.append(line)
                self._held_size += len(line)
                if self._held_size >= _PIPE_BUF:
                    self._write_held_now()
                # Keyed by loop: a flush scheduled on a loop that closed before running it is
                # scheduled again on the loop now running.
                elif self._flush_scheduled_on is not loop:
                    self._flush_scheduled_on = loop
                    loop.call_later(HOLD_SECONDS, self._write_held)
        except Exception:
            self.handleError(logger.makeRecord(logger.name, level, "(unknown file)", 0, message, (), None))


def _sole_line_handler(logger: logging.Logger, level: int) -> _LineHandler | None:
    """The handler of ``configure_logging`` when it alone would see ``logger``'s record, and the
    record would be ours as it stands (no other record factory adds to it), else None."""
    if not getattr(logging.getLogRecordFactory(), "_adds_log_context", False):
        return None
    current = logger
    while current is not logging.root:
        if current.filters or current.handlers or not current.propagate or current.parent is None:
            return None
        current = current.parent
    root = logging.root
    if root.filters or len(root.handlers) != 1:
        return None
    handler = root.handlers[0]
    if isinstance(handler, _LineHandler) and not handler.filters and level >= handler.level:
        return handler
    return None


def log_line(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """Log as ``logger.log(level, message, extra=fields)`` does, at a third of the cost.

    For lines written on every request. When the line would reach only the handler
    ``configure_logging`` installed (the usual case), it is rendered and written directly: the
    same line, with the bound context fields, but no ``LogRecord`` and no walk through logging's
    handler machinery. Anywhere else (another handler attached, such as pytest's ``caplog``), the
    record goes through ``logging`` as usual.
    """
    if not logger.isEnabledFor(level):
        return
    handler = _sole_line_handler(logger, level)
    if handler is None:
        logger.log(level, message, extra=fields)
        return
    context = _log_context.get()
    handler.write_line(logger, level, message, {**context, **fields} if context else fields)


def configure_logging(level: str, *, json_lines: bool) -> None:
    """Send every logger's records to stderr in the chosen format; idempotent."""
    _skip_unused_record_lookups()
    handler = _LineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Their own handlers would print lines twice or in another format; uvicorn's access log is left
    # to the server's access_log switch.
    for name in ("uvicorn", "uvicorn.error", "celery"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
