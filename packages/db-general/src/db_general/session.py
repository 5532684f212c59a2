"""The general database's engines and sessions in this process (created once, disposed at shutdown).

The worker writes through sync sessions (the API, which only reads, holds a ``db_core.ReadPool``
of its own instead):

    with general_database.sync_session() as session: ...
    await general_database.dispose()   # or general_database.dispose_sync() outside a loop
"""

from db_core import Database
from db_general.spec import GENERAL_DB

general_database = Database(GENERAL_DB)
