"""The worker's time settings, which only work together: a bad combination stops it at start.

A chunk stops taking work after ``SYNC_CHUNK_SECONDS``; the soft limit stops a chunk stuck on one
request, the hard limit kills it; a task is handed to another worker once it has been
unacknowledged for ``CELERY_VISIBILITY_TIMEOUT``, so that must come after the hard limit, or a
running task would run twice. On SIGTERM the worker lets running tasks finish for
``WORKER_SOFT_SHUTDOWN_TIMEOUT`` seconds, then puts them back in the queue; the platform kills it
``WORKER_SHUTDOWN_DELAY`` seconds after SIGTERM, so the first must be the shorter.
"""

from core_config import ConfigError, Settings

# Room after the soft shutdown for the cold shutdown to put tasks back and close connections.
SHUTDOWN_MARGIN_SECONDS = 5.0
# A retried task waits for its countdown in a worker, unacknowledged; it must then still finish
# before the visibility timeout, or a second worker would take it too.
RETRY_MARGIN_SECONDS = 5.0


def timing_problems(settings: Settings) -> list[tuple[str, str]]:
    """The ``(VARIABLE, problem)`` pairs of the time settings that cannot work together."""
    problems: list[tuple[str, str]] = []
    if settings.sync_chunk_seconds >= settings.task_soft_time_limit:
        problems.append(("SYNC_CHUNK_SECONDS", "must be below TASK_SOFT_TIME_LIMIT"))
    if settings.task_soft_time_limit >= settings.task_time_limit:
        problems.append(("TASK_SOFT_TIME_LIMIT", "must be below TASK_TIME_LIMIT"))
    if settings.celery_visibility_timeout <= settings.task_time_limit:
        problems.append(
            ("CELERY_VISIBILITY_TIMEOUT", "must be above TASK_TIME_LIMIT, or a running task is run twice")
        )
    if settings.worker_soft_shutdown_timeout + SHUTDOWN_MARGIN_SECONDS > settings.worker_shutdown_delay:
        problems.append(
            (
                "WORKER_SOFT_SHUTDOWN_TIMEOUT",
                f"must be at least {SHUTDOWN_MARGIN_SECONDS:g}s below WORKER_SHUTDOWN_DELAY, or the "
                "worker is killed before it puts its running tasks back in the queue",
            )
        )
    return problems


def check_timing(settings: Settings) -> None:
    """Raise ``ConfigError`` (one line per problem) when the time settings cannot work together."""
    problems = timing_problems(settings)
    if problems:
        raise ConfigError(problems)


def max_retry_countdown(settings: Settings) -> float:
    """The longest a retry may wait and still finish before the visibility timeout."""
    room = settings.celery_visibility_timeout - settings.task_time_limit - RETRY_MARGIN_SECONDS
    return max(0.0, float(room))


def abandoned_after(settings: Settings) -> float:
    """How long a running sync's row may stay untouched before it counts as abandoned: longer than a
    live task can be silent (a chunk to its hard limit, then the longest retry countdown, then a
    redelivery after the visibility timeout), with ``SYNC_ABANDONED_AFTER`` as the floor (a chunk's
    next message may also wait in a busy queue)."""
    silent = settings.task_time_limit + max_retry_countdown(settings) + settings.celery_visibility_timeout
    return max(float(settings.sync_abandoned_after), silent + RETRY_MARGIN_SECONDS)
