"""``GENERAL_DB``: how db_core finds, connects to and migrates the general database."""

from db_core import DatabaseSpec
from db_general.models import GeneralBase

GENERAL_DB = DatabaseSpec(
    name="general",
    metadata=GeneralBase.metadata,
    url_setting="database_url_general",
    script_location="db_general:migrations",
    version_table="alembic_version_general",
    head_revision="0004",  # a new revision updates this line
    description="instruments, klines, sync runs",
)
