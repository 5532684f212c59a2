"""A typed Bybit V5 REST client: signed, sync and async, with retries.

``BybitClient`` and ``AsyncBybitClient`` share one core; ``bybit_client.testing`` holds a fake V5
server and a pytest plugin for tests that talk to "Bybit"; ``bybit_client.streams`` holds the
WebSocket streams (asyncio).

Bybit's terms (``bybit_client.enums``) and the millisecond helpers (``bybit_client.times``) load
with the package; everything else loads on first use (PEP 562), so that a program which only needs
the terms, such as the settings, does not load the HTTP transports.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
