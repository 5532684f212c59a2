"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .app import (
    create_app,
    serve_app,
)

__all__ = [
    "create_app",
    "serve_app",
]
