"""The general database's engines, read pool and sessions in this process (created once, disposed
at shutdown).

The API reads through the read pool, the worker writes through sync sessions:

    async with general_database.reader() as connection: ...
    with general_database.sync_session() as session: ...
    await general_database.dispose()   # or general_database.dispose_sync() outside a loop
"""

from db_core import Database
from db_general.spec import GENERAL_DB

general_database = Database(GENERAL_DB)
