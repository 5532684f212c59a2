"""``get_logger``: the one way our code gets a logger, bound on its first line.

Importing a module that logs costs nothing: structlog and the logging set-up load when the logger
logs for the first time (a command that never logs, ``api-admin master-key generate``, never loads
them); every call is then handed to that structlog logger.
"""

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger


class _BoundOnFirstUse:
    __slots__ = ("_bound", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound: BoundLogger | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._bound is None:
            from core_config.logging_setup import bound_logger  # noqa: PLC0415 - the point of this class

            self._bound = bound_logger(self._name)
        return getattr(self._bound, attribute)


def get_logger(name: str) -> "BoundLogger":
    """A structlog logger writing through the standard ``logging.getLogger(name)``: ``log.info("synced",
    category="linear", count=412)``."""
    return cast("BoundLogger", _BoundOnFirstUse(name))
