"""The one error the stack reports as a single line before stopping what it started."""


class StackError(Exception):
    """Something the developer has to fix; the message says what, without secrets."""
