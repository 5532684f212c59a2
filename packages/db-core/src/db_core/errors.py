"""Database errors with messages an operator can act on; URLs in them never carry a password."""


class DatabaseError(Exception):
    """Base of db_core's own errors."""


class DatabaseUnavailableError(DatabaseError):
    """The database did not answer: refused, unreachable, no pooled connection in time, a lost
    connection, a statement past the statement timeout (see ``means_unavailable``)."""


class WrongDatabaseError(DatabaseError):
    """Migrations of one database were pointed at another database; nothing was applied."""


class UnknownDatabaseError(DatabaseError):
    """No installed package registers a database of that name."""
