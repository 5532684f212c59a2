"""``USER_DB``, the user database (users, API tokens, encrypted Bybit credentials): how db_core finds,
connects to and migrates it."""

from db_core import DatabaseSpec
from db_user.models import UserBase

# A new revision updates head_revision.
USER_DB = DatabaseSpec(name="user", package="db_user", metadata=UserBase.metadata, head_revision="0003")
