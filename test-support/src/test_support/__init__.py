"""Test support for the monorepo's tests and benchmarks; never installed outside development.

The fixtures come from the modules the root ``conftest.py`` names in ``pytest_plugins``:
``test_support.databases`` (fresh migrated databases, rolled-back sessions), ``test_support.servers``
(dead ports, a private Redis), ``test_support.worker`` (a real worker process) and
``bybit_client.testing.plugin`` (the fake exchange, public with bybit-client's ``testing`` extra).
Helpers: ``test_support.scratch`` (throw-away databases) and ``test_support.worker_process``.
"""
