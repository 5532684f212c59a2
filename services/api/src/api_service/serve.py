"""``api-serve``: run the API under uvicorn with host, port and workers from the settings.

Uvicorn stops accepting connections on SIGTERM (what Render sends) and lets requests in flight
finish within the graceful-shutdown window.
"""

import uvicorn

from api_service.required_settings import REQUIRED_SETTINGS
from core_config import configure_logging, exit_on_config_error, get_settings
from db_user import Vault

GRACEFUL_SHUTDOWN_SECONDS = 20


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
        log_config=None,
        access_log=False,  # the request middleware writes one richer line per request
        # X-Forwarded-For is believed only from the configured proxies (Render's load balancer),
        # never from any caller: the rate limits count by the address it gives.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )


if __name__ == "__main__":
    main()
