"""The worker's and beat's telemetry and error reports, switched on by the environment (``OTEL_*``,
``SENTRY_DSN``): nothing is loaded when none of them is set.

Metrics are scraped from the worker on ``OTEL_EXPORTER_PROMETHEUS_PORT`` (with
``OTEL_METRICS_EXPORTER=prometheus``). With the prefork pool each pool process counts its own
tasks, so each serves its own port: the main process the configured one, pool process ``n`` (1 to
``WORKER_CONCURRENCY``, a replaced process keeps its number) that port plus ``n``.
"""

from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from core_config import Settings
from core_telemetry import Telemetry, telemetry
from core_telemetry import start_observability as start_process_observability

if TYPE_CHECKING:
    from worker_service.celery_app import WorkerApp


def start_observability(settings: Settings, service: str) -> Telemetry:
    """Telemetry from ``OTEL_*`` and Sentry from ``SENTRY_DSN``; ``ConfigError`` for a wrong value."""
    return start_process_observability(service, settings, release=version("worker-service"))


def observe_worker(app: "WorkerApp") -> None:
    """The worker's gauges (its database pool, its queue's length) and its scrape ports."""
    current = telemetry()
    if not current.plan.metrics:
        return
    current.observe_pools(app.general_db.pool_stats)
    queue = app.settings.celery_queue
    redis_url = app.settings.redis_url.get_secret_value()
    clients: list[Any] = []

    def queue_length() -> int:
        if not clients:
            from redis import Redis  # noqa: PLC0415 - made on the first collection

            clients.append(Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2))
        # kombu's Redis transport keeps a queue's messages in a list named after the queue.
        return int(clients[0].llen(queue))

    current.observe_queue(queue, queue_length)
    if current.plan.prometheus:
        from celery import signals  # noqa: PLC0415 - the stream process does without Celery

        signals.worker_init.connect(_serve_main, weak=False, dispatch_uid="worker_service.metrics")
        signals.worker_process_init.connect(_serve_pool_process, weak=False, dispatch_uid="worker_service.pm")


def _serve_main(**_: Any) -> None:
    telemetry().serve_prometheus()


def _serve_pool_process(**_: Any) -> None:
    from celery.utils.log import current_process_index  # type: ignore[attr-defined]  # noqa: PLC0415

    current = telemetry()
    current.serve_prometheus(current.plan.prometheus_port + (current_process_index() or 0))
