"""``Telemetry``: what a service asks of telemetry, as no-ops; ``telemetry()`` is the process's.

Until ``start_telemetry`` switches something on, every method does nothing and costs a call:
services call them unconditionally, and nothing of OpenTelemetry is imported.
"""

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from core_telemetry.environment import TelemetryPlan


class PoolStats(Protocol):
    """One connection pool's usage (db-core's ``PoolStats`` has this shape)."""

    @property
    def name(self) -> str: ...
    @property
    def used(self) -> int: ...
    @property
    def idle(self) -> int: ...
    @property
    def pending(self) -> int | None: ...
    @property
    def max(self) -> int: ...


class Telemetry:
    """Telemetry switched off: every method is a no-op. ``plan`` says what is on."""

    plan = TelemetryPlan()

    def fastapi_config(self) -> dict[str, Any]:
        """``FastAPI(telemetry=...)``: the framework's own HTTP spans and metrics, on for what is on."""
        return {"tracing": False, "metrics": False, "logs": False}

    def observe_pools(self, stats: Callable[[], Iterable[PoolStats]]) -> None:
        """Report connection-pool usage, read from ``stats`` at each collection."""

    def observe_queue(self, queue: str, length: Callable[[], int]) -> None:
        """Report the number of messages waiting in ``queue``, read from ``length`` at each collection."""

    def serve_prometheus(self, port: int | None = None) -> None:
        """Serve the Prometheus scrape endpoint on its own port (the plan's, or ``port``)."""

    def prometheus_text(self) -> tuple[bytes, str]:
        """The scrape page and its content type."""
        return b"", "text/plain"

    def shutdown(self) -> None:
        """Send what is buffered and stop exporting."""


_current = Telemetry()


def telemetry() -> Telemetry:
    """The telemetry of this process (switched off until ``start_telemetry``)."""
    return _current


def _install(instance: Telemetry) -> None:
    global _current  # noqa: PLW0603 - the process's one telemetry, set once at start
    _current = instance
