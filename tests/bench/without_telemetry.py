"""``api-serve`` as if telemetry's libraries were not installed: the baseline of ``bench_telemetry``.

A meta-path finder refuses the OpenTelemetry SDK, exporters, instrumentations, Prometheus's client
and Sentry's SDK, as an environment without them would (redis-py, for one, then skips its own
optional import of the SDK); then ``api-serve`` runs as usual, in this process.
"""

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

BLOCKED = (
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "opentelemetry.instrumentation",
    "opentelemetry.semconv",
    "opentelemetry.proto",
    "prometheus_client",
    "sentry_sdk",
    "psutil",
)


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in BLOCKED or fullname.startswith(tuple(f"{name}." for name in BLOCKED)):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, NotInstalled())
    from api_service.serve import main

    main()
