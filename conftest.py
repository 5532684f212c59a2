"""Where every shared fixture comes from. pytest loads this file for any test path in the
repository (`make test`, `make test PKG=...`), and with it these modules:

- ``test_support.databases``: ``user_database_url``, ``general_database_url``, ``empty_database_url``,
  ``test_settings``, ``user_engine``, ``general_engine``, ``general_sync_engine``, ``user_session``,
  ``general_session``, ``general_sync_session``, ``general_connection``
- ``test_support.servers``: ``closed_port``, ``silent_port``, ``private_redis``
- ``bybit_client.testing.plugin``: ``fake_bybit``, ``fake_bybit_server`` (the fake exchange)
- ``test_support.worker``: ``worker_settings``, ``worker``, ``celery_client``, ``clean_general_database``
- ``test_support.canary``: fails a test in whose time a secret the suite uses was logged

Fixtures of one package or service alone live in its ``tests/conftest.py``.
"""

pytest_plugins = (
    "test_support.databases",
    "test_support.servers",
    "bybit_client.testing.plugin",
    "test_support.worker",
    "test_support.canary",
)
