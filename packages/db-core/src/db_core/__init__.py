"""Shared PostgreSQL plumbing for the database packages: ``Database`` (engines, sessions, read
connections), Alembic, readiness.

db_user and db_general each describe themselves with a ``DatabaseSpec`` and register it under the
``db_core.databases`` entry-point group; db_core never imports them.

Every name loads on first use (PEP 562): the migration runner (``db_core.migrations``: Alembic,
and through it Mako) only in a program that migrates, SQLAlchemy and psycopg only once a program
uses them (``db-migrate --help`` answers without them).
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
