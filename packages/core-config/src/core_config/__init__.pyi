"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .errors import (
    ConfigError,
    exit_on_config_error,
)
from .loggers import (
    get_logger,
)
from .logging_setup import (
    REQUEST_ID,
    add_log_processor,
    bind_log_context,
    configure_logging,
    log_formatter,
)
from .secret_files import (
    MASTER_KEY_VARIABLE,
    read_secret_file,
)
from .settings import (
    LOCAL_DATABASE_URL_GENERAL,
    LOCAL_DATABASE_URL_USER,
    LOCAL_REDIS_URL,
    Environment,
    Settings,
    build_settings,
    get_settings,
)
from .urls import (
    database_name,
    libpq_url,
    mask_password,
    on_local_port,
    with_database,
)

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
    "on_local_port",
    "read_secret_file",
    "with_database",
]
