"""Bybit V5 WebSocket streams on asyncio (aiohttp's client): public market data and the private stream.

    async with BybitStream(public_url(base, "linear"), [kline_topic("1", "BTCUSDT")]) as stream:
        async for item in stream:
            if isinstance(item, KlineMessage): ...
            elif isinstance(item, Connected) and item.reconnects: ...  # backfill what was missed

Connections are supervised (ping, silence watchdog, jittered backoff within Bybit's per-IP
connection budget, subscriptions restored, typed errors); order books are kept locally and
resynchronised on any gap in their update ids.

Names load on first use (PEP 562), declared once in __init__.pyi (the models a message carries are
bybit_client's own: from bybit_client import Order).
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
