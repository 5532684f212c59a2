"""The API's telemetry and error reports, switched on by the environment (``OTEL_*``, ``SENTRY_DSN``).

``start_observability(settings)`` runs once per server process, before the app is built; with
none of those variables set it loads nothing and returns telemetry that does nothing.
"""

import json
from importlib.metadata import version
from typing import Any

from core_config import Settings, read_secret_file
from core_telemetry import Telemetry
from core_telemetry import start_observability as start_process_observability

SERVICE = "api"


def _master_key_texts(settings: Settings) -> list[str]:
    """The key file's text and each key in it, so that an error report can never carry them."""
    data, _ = read_secret_file(settings.render_master_key_path)
    text = data.decode(errors="replace")
    try:
        keys: Any = json.loads(text).get("keys", {})
    except (ValueError, AttributeError):
        keys = {}
    return (
        [text, *(value for value in keys.values() if isinstance(value, str))]
        if isinstance(keys, dict)
        else [text]
    )


def start_observability(settings: Settings) -> Telemetry:
    """Telemetry from ``OTEL_*`` and Sentry from ``SENTRY_DSN``; ``ConfigError`` for a wrong value."""
    secrets = _master_key_texts(settings) if settings.sentry_dsn is not None else []
    return start_process_observability(SERVICE, settings, release=version("api-service"), secrets=secrets)
