"""Who the embedded servers run as: the current user, or ``nobody`` when that is root.

PostgreSQL refuses to run as root (containers and CI often are), so there the servers drop to an
unprivileged account, which needs to reach its data folder and the server binaries.
"""

import os
import pwd
import stat
from pathlib import Path

UNPRIVILEGED_ACCOUNT = "nobody"


def server_account() -> pwd.struct_passwd | None:
    """The account to switch to, or None to stay the current user."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam(UNPRIVILEGED_ACCOUNT)


def make_reachable(path: Path) -> list[Path]:
    """Let other users traverse every folder above ``path``; return the folders that changed.

    Only the search (x) bit is added, never read or write; ``path`` itself is left as it is.
    """
    changed = []
    for folder in path.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append(folder)
    return changed


def give_to(path: Path, account: pwd.struct_passwd | None) -> None:
    """Make ``account`` own the folder ``path`` (a no-op when not switching accounts)."""
    if account is not None and path.stat().st_uid != account.pw_uid:
        os.chown(path, account.pw_uid, account.pw_gid)
