"""The syncs' own metric, defined here through the OpenTelemetry API: the rows each sync wrote, by
kind and outcome (``sync.rows.written``).

A no-op until core-telemetry sets the process's meter provider (``OTEL_*`` switches it on); the
API's proxy meter then records into it.
"""

from opentelemetry import metrics

ROW_BUCKETS = (0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)

_rows_written = metrics.get_meter("worker_service").create_histogram(
    "sync.rows.written",
    unit="{row}",
    description="Rows one market-data sync wrote, by kind and outcome",
    explicit_bucket_boundaries_advisory=ROW_BUCKETS,
)


def record_sync(kind: str, rows: int, outcome: str) -> None:
    """Count one ended sync of ``kind`` (``succeeded`` or ``failed``) with the rows it wrote."""
    _rows_written.record(rows, {"sync.kind": kind, "sync.outcome": outcome})
