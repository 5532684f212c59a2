"""``USER_DB``: how db_core finds, connects to and migrates the user database."""

from db_core import DatabaseSpec
from db_user.models import UserBase

USER_DB = DatabaseSpec(
    name="user",
    metadata=UserBase.metadata,
    url_setting="database_url_user",
    script_location="db_user:migrations",
    version_table="alembic_version_user",
    head_revision="0002",  # a new revision updates this line
    description="users, API tokens, encrypted Bybit credentials",
)
