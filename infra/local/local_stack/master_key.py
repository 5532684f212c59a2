"""The local master key file: created once, on a developer's machine only, by the vault's own CLI.

The key file's format belongs to the credential vault (``api-admin master-key generate``); this
module only decides when a key must be made. In staging and production a missing key is an error
the services report themselves, so nothing is written there.
"""

import subprocess
from pathlib import Path

from local_stack.commands import require
from local_stack.errors import StackError

GENERATE_COMMAND = ("master-key", "generate", "--path")


def ensure_local_master_key(path: Path) -> str:
    """Make sure a master key file exists at ``path``; return one line saying what was done.

    The key is written by ``api-admin master-key generate --path PATH`` (mode 0600).
    """
    if path.exists():
        return f"master key: {path}"
    admin = require("api-admin")
    path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(admin), *GENERATE_COMMAND, str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,  # never echoed: the output could hold key material
        text=True,
        check=False,
    )
    if result.returncode != 0 or not path.exists():
        # The vault's messages never carry key material; its last line says what went wrong.
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise StackError(f"`api-admin master-key generate` failed: {reason}")
    return f"master key: created {path}"
