"""The settings the API must be given outside a developer's machine: what it uses (the worker is
given neither the user database nor the master key).

A module of its own so that ``api-serve``, the app factory and every ``api-admin`` command check
them before loading anything else.
"""

REQUIRED_SETTINGS = ("database_url_user", "database_url_general", "redis_url", "render_master_key_path")
