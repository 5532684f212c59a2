"""Celery's own task lines made short: the task's name and id, how it ended, a summary of its result.

Celery logs each task's receipt, success and failure with its whole context as an ``extra`` named
``data`` (the arguments, the result's repr, the failure's traceback as text); rendered as fields,
that made every task line several hundred characters and a failure's traceback appear twice. A
``logging.Filter`` on Celery's task loggers drops that extra and shortens the result, so a line
says what happened and the traceback comes once, from the record's own ``exc_info``.
"""

import logging
from typing import Any

# Celery's loggers of task receipt (the consumer) and of task outcomes (the pool processes).
TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")
MAX_SUMMARY_CHARS = 160


def summary(value: str) -> str:
    """A result's repr cut to ``MAX_SUMMARY_CHARS`` characters."""
    return value if len(value) <= MAX_SUMMARY_CHARS else value[: MAX_SUMMARY_CHARS - 1] + "…"


class ShortTaskLines(logging.Filter):
    """Drops the ``data`` extra from Celery's task lines and shortens the result and error they print."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "data" in record.__dict__:
            del record.__dict__["data"]
        if isinstance(record.args, dict):
            context: dict[str, Any] = dict(record.args)
            for name in ("return_value", "exc"):
                if isinstance(context.get(name), str):
                    context[name] = summary(context[name])
            if isinstance(context.get("runtime"), float):
                context["runtime"] = round(context["runtime"], 3)
            record.args = context
        return True


def shorten_task_lines() -> None:
    """Install the filter on Celery's task loggers (once: filters are kept in a set-like list)."""
    for name in TASK_LOGGERS:
        task_logger = logging.getLogger(name)
        if not any(isinstance(existing, ShortTaskLines) for existing in task_logger.filters):
            task_logger.addFilter(ShortTaskLines())
