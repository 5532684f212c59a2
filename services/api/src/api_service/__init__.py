"""api-service: the HTTP API (FastAPI on uvicorn) composing the configuration, both databases and
the Bybit client. ``create_app(settings)`` builds the app; ``api-serve`` runs it; ``api-admin`` is
the operator's command line.

The app is imported on first use, so that ``api-admin`` starts without loading the web stack.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api_service.app import create_app, serve_app

__all__ = ["create_app", "serve_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from api_service import app  # noqa: PLC0415 - deferred on purpose, see the docstring

        return getattr(app, name)
    raise AttributeError(name)
