"""Alembic environment of the user database (run through ``db-migrate``)."""

from db_core import run_environment
from db_user.spec import USER_DB

run_environment(USER_DB)
