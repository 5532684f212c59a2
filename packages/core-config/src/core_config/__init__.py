"""core-config: the one place every service reads its configuration from.

Entry points call ``get_settings()`` inside ``exit_on_config_error()`` so that a bad setting
stops the process with one line per problem and no traceback.

The logging names (structlog) load on first use (PEP 562): a command answering `--help` or a
settings error does not load the logging stack.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from core_config.errors import ConfigError, exit_on_config_error
from core_config.secret_files import MASTER_KEY_VARIABLE, read_secret_file
from core_config.settings import (
    LOCAL_DATABASE_URL_GENERAL,
    LOCAL_DATABASE_URL_USER,
    LOCAL_REDIS_URL,
    Environment,
    Settings,
    build_settings,
    get_settings,
)
from core_config.urls import database_name, libpq_url, mask_password, with_database

if TYPE_CHECKING:
    from core_config.logging_setup import (
        REQUEST_ID,
        add_log_processor,
        bind_log_context,
        configure_logging,
        get_logger,
        log_formatter,
    )

_HOMES: dict[str, str] = {
    "REQUEST_ID": "logging_setup",
    "add_log_processor": "logging_setup",
    "bind_log_context": "logging_setup",
    "configure_logging": "logging_setup",
    "get_logger": "logging_setup",
    "log_formatter": "logging_setup",
}


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "LOCAL_DATABASE_URL_GENERAL",
    "LOCAL_DATABASE_URL_USER",
    "LOCAL_REDIS_URL",
    "MASTER_KEY_VARIABLE",
    "REQUEST_ID",
    "ConfigError",
    "Environment",
    "Settings",
    "add_log_processor",
    "bind_log_context",
    "build_settings",
    "configure_logging",
    "database_name",
    "exit_on_config_error",
    "get_logger",
    "get_settings",
    "libpq_url",
    "log_formatter",
    "mask_password",
    "read_secret_file",
    "with_database",
]
