"""With no OTEL_* variable and no SENTRY_DSN, the services load nothing of telemetry's libraries."""

import json
import os
import subprocess
import sys

# What only switched-on telemetry may import. (redis-py itself imports opentelemetry.sdk.metrics when
# the SDK is installed, to offer its own metrics, so that module is not in the list.)
HEAVY = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation", "sentry_sdk")
PROBE = """
import json, sys
from core_config import build_settings
from core_telemetry import start_telemetry, telemetry
import api_service.app as app_module
import worker_service.celery_app as worker_module
settings = build_settings(environment="test")
started = start_telemetry("api")
app = app_module.create_app(settings, started)
worker_module.create_app(settings)
loaded = sorted(m for m in sys.modules if m.startswith(tuple(sys.argv[1:])))
print(json.dumps({"loaded": loaded, "enabled": telemetry().plan.enabled,
                  "routes": [getattr(r, "path", "") for r in app.routes]}))
"""


def test_nothing_is_loaded_when_telemetry_is_off() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRY_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *HEAVY, "prometheus_client"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["enabled"] is False
    assert found["loaded"] == []
    assert "/metrics" not in found["routes"]
