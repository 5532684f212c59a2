"""api-service: the HTTP API (FastAPI on uvicorn) composing the configuration, both databases and
the Bybit client. ``create_app(settings)`` builds the app; ``api-serve`` runs it."""

from api_service.app import create_app, serve_app

__all__ = ["create_app", "serve_app"]
