"""The account process's metrics, through the OpenTelemetry API alone (core-telemetry sets the
provider; without ``OTEL_*`` they are no-ops):

- ``accounts.events``: private pushes written, by topic;
- ``accounts.event.commit``: seconds from Bybit creating a push to its row committed;
- ``accounts.reconciles``: reconciliations, by reason and outcome; ``accounts.corrections``: what
  they corrected, by kind (orders, executions, positions, balances);
- ``accounts.held``: keys this process holds, by status (observed).
"""

from collections.abc import Callable, Iterable, Mapping

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_meter = metrics.get_meter("worker_service.accounts")
_events = _meter.create_counter("accounts.events", unit="{push}", description="Private pushes written")
_commit = _meter.create_histogram(
    "accounts.event.commit",
    unit="s",
    description="From Bybit creating a private push to its row committed",
    explicit_bucket_boundaries_advisory=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_reconciles = _meter.create_counter("accounts.reconciles", unit="{reconcile}", description="Reconciliations")
_corrections = _meter.create_counter(
    "accounts.corrections", unit="{row}", description="Rows a reconciliation corrected"
)


def record_event(topic: str, seconds: float) -> None:
    _events.add(1, {"accounts.topic": topic})
    _commit.record(max(0.0, seconds), {"accounts.topic": topic})


def record_reconcile(reason: str, outcome: str, corrections: Mapping[str, int]) -> None:
    _reconciles.add(1, {"accounts.reason": reason, "accounts.outcome": outcome})
    for kind, count in corrections.items():
        if count:
            _corrections.add(count, {"accounts.kind": kind})


def observe_held(statuses: Callable[[], Iterable[str]]) -> None:
    """Report the keys held, by status, each time metrics are collected."""

    def observe(_: CallbackOptions) -> Iterable[Observation]:
        counts: dict[str, int] = {}
        for status in statuses():
            counts[status] = counts.get(status, 0) + 1
        return [Observation(count, {"accounts.status": status}) for status, count in counts.items()]

    _meter.create_observable_gauge(
        "accounts.held", callbacks=[observe], unit="{account}", description="Keys this process holds"
    )
