"""Configuration errors: one line per problem, naming the variable, never its value."""

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pydantic import ValidationError


class ConfigError(Exception):
    """One or more settings are missing or invalid.

    ``problems`` holds ``(VARIABLE, what is wrong)`` pairs; values are never included, since
    settings carry passwords and keys.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{variable}: {problem}" if variable else problem for variable, problem in self.problems]

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> "ConfigError":
        problems: list[tuple[str, str]] = []
        for error in exc.errors(include_input=False, include_url=False):
            variable = str(error["loc"][0]).upper() if error["loc"] else ""
            message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
            # A model-level check reports several variables at once, one "VARIABLE: problem" a line.
            for line in message.splitlines():
                name, sep, problem = line.partition(": ")
                if not variable and sep and name.isupper():
                    problems.append((name, problem))
                else:
                    problems.append((variable, line))
        return cls(problems)


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Turn a ``ConfigError`` into one stderr line per problem and exit status 2, no traceback."""
    try:
        yield
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        raise SystemExit(2) from None
