"""api-service: the HTTP API (FastAPI on uvicorn) composing the configuration, both databases and
the Bybit client. ``create_app(settings)`` builds the app; ``api-serve`` runs it; ``api-admin`` is
the operator's command line.

Names load on first use (PEP 562, declared once in __init__.pyi), so that ``api-admin`` starts
without loading the web stack.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
