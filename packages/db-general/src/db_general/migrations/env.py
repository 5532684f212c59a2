"""Alembic environment of the general database (run through ``db-migrate``)."""

from db_core import run_environment
from db_general.spec import GENERAL_DB

run_environment(GENERAL_DB)
