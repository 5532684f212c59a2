"""The user database's engines and sessions in this process (created once, disposed at shutdown).

async with user_database.session() as session: ...   # commits on success, rolls back on error
await user_database.dispose()                        # at shutdown
"""

from db_core import Database
from db_user.spec import USER_DB

user_database = Database(USER_DB)
