"""A fake Bybit V5 exchange for tests and benchmarks (needs the ``testing`` extra: uvicorn).

``FakeBybit`` listens on a real TCP port and checks signatures, timestamps and recv_window as
Bybit does, trades (matching, positions, wallet, Bybit's refusals and per-account limits, its
retention windows on a fake clock), and serves its WebSocket streams (with faults) on a second
port. ``bybit_client.testing.plugin`` has the pytest fixture ``fake_bybit``, for suites that name
it in ``pytest_plugins``. README.md beside this file is the contract tests rely on.

Names load on first use (PEP 562), declared once in __init__.pyi.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
