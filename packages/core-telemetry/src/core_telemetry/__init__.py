"""core-telemetry: OpenTelemetry traces and metrics, a Prometheus scrape endpoint and Sentry error
reports, set up from the standard environment variables (``OTEL_*``, ``SENTRY_DSN``).

Each process calls ``start_telemetry(service)`` once at start; ``telemetry()`` is what it started
(a no-op until then, and for good when nothing is asked for). Nothing of OpenTelemetry, Prometheus
or Sentry is imported unless asked for: names load on first use (PEP 562, declared once in
__init__.pyi), so importing this package costs nothing.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
