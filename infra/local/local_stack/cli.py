"""Command line of the local stack: ``run`` (the default) and ``test-servers -- COMMAND``."""

import sys
from collections.abc import Sequence

USAGE = """usage: stack.py [run]                         the whole stack in the foreground (`make run`)
       stack.py test-servers -- COMMAND ...  COMMAND with test servers, embedded when none (`make test`)"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in ([], ["run"]) and len(args) <= 1:
        from local_stack.run import run  # noqa: PLC0415 - keeps `test-servers` free of heavy imports

        return run()
    if args[:1] == ["test-servers"]:
        from local_stack.test_servers import main as test_servers  # noqa: PLC0415

        command = args[1:]
        return test_servers(command[1:] if command[:1] == ["--"] else command)
    print(USAGE, file=sys.stderr)
    return 2
