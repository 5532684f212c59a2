"""``api-serve``: run the API under uvicorn with host, port, workers and bounds from the settings.

Uvicorn stops accepting connections on SIGTERM (what Render sends) and lets requests in flight
finish within the graceful-shutdown window.

What a caller cannot make it hold, with uvicorn's own documented options:
- headers: the h11 parser, whose ``h11_max_incomplete_event_size`` refuses a request line and
  headers past ``API_MAX_HEADER_BYTES`` with 400 and a close (httptools, uvicorn's faster parser,
  has no such limit: an 8 MB header was read whole);
- connections: ``limit_concurrency`` (``API_MAX_CONNECTIONS``): past that many open connections or
  running requests, each new request is answered 503 at once;
- a body that stops arriving: ``body_limit.py`` answers 408 and closes past ``API_BODY_TIMEOUT``;
- an idle kept-alive connection: closed after ``timeout_keep_alive`` seconds.
Headers that stop arriving are bounded by no uvicorn option; such a connection counts against the
connection cap (services/api/README.md, "Limits").
"""

from typing import Any

import uvicorn

from api_service.required_settings import REQUIRED_SETTINGS
from core_config import Settings, configure_logging, exit_on_config_error, get_settings
from db_user import Vault

GRACEFUL_SHUTDOWN_SECONDS = 20
KEEP_ALIVE_SECONDS = 5  # uvicorn's default, named: an idle connection is closed after it


def bounds(settings: Settings) -> dict[str, Any]:
    """The uvicorn options that bound what one caller can hold."""
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.api_max_header_bytes,
        "limit_concurrency": settings.api_max_connections,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }


def main() -> None:
    with exit_on_config_error():
        settings = get_settings().require(*REQUIRED_SETTINGS)
        Vault.from_settings(settings)  # a missing or bad key file stops the start with one line
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    uvicorn.run(
        "api_service.app:app_from_environment",
        factory=True,
        host=settings.api_host,
        port=settings.port,
        workers=settings.api_workers,
        **bounds(settings),
        log_config=None,
        access_log=False,  # the request middleware writes one richer line per request
        # X-Forwarded-For is read by the app, by hop position, from the configured proxies only
        # (client_address.py); uvicorn's reading (skip trusted addresses from the right) is off.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )


if __name__ == "__main__":
    main()
