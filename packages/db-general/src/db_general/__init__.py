"""The general database: instruments, klines, sync runs.

Reads are async (the API) and take a SQLAlchemy ``AsyncConnection`` (the API's
``Database.reads()``, autocommit): ``select()`` statements whose column lists come from the table
metadata, rows as plain dicts keyed by column name. Writes are sync (the Celery worker) and take a
``Session``; they never commit: the caller's session scope does.

Names load on first use (PEP 562): a program needing one of them loads that module and what it
imports, not the whole package.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
