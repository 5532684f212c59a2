"""``GENERAL_DB``, the general database (instruments, klines, sync runs): how db_core finds, connects to and
migrates it."""

from db_core import DatabaseSpec
from db_general.models import GeneralBase

# A new revision updates head_revision.
GENERAL_DB = DatabaseSpec(
    name="general", package="db_general", metadata=GeneralBase.metadata, head_revision="0006"
)
