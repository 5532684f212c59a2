"""worker-service: the Celery worker and beat that keep the general database in sync with Bybit.

``create_app(settings)`` builds the Celery app with its tasks; ``worker-service worker|beat|health``
runs it. The task names and arguments are the contract with the API, declared once in
``db_general.task_contract``; the API sends them without importing this package.

Names are imported on first use, so that ``worker-service health`` (a liveness probe run every
few seconds) starts without loading Celery, SQLAlchemy and the Bybit client.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
