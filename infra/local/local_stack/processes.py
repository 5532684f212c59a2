"""Child processes: started in their own session, logs read into one prefixed stream, stopped in order.

Each child gets its own session so a Ctrl-C in the terminal reaches only the supervisor, which
then stops the services before the servers they depend on. On Linux each child also receives
SIGTERM when the supervisor dies without cleaning up (SIGKILL, a crash).
"""

import contextlib
import ctypes
import os
import pwd
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from local_stack.errors import StackError

_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it

    def set_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_signal


_SET_PARENT_DEATH_SIGNAL = _parent_death_signal()


@dataclass
class Child:
    """A process of the stack and how to stop it gracefully."""

    name: str
    process: subprocess.Popen[bytes]
    stop_signal: signal.Signals = signal.SIGTERM
    partial_line: bytes = field(default=b"", repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def spawn(
    name: str,
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    log_file: IO[bytes] | None = None,
    run_as: pwd.struct_passwd | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Child:
    """Start ``argv``; its output goes to ``log_file`` or, when none, to a pipe the ``LogStream`` reads."""
    output: IO[bytes] | int = log_file if log_file is not None else subprocess.PIPE
    try:
        process = subprocess.Popen(  # noqa: S603 - the stack's own binaries and console scripts
            [str(arg) for arg in argv],
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=run_as.pw_uid if run_as else None,
            group=run_as.pw_gid if run_as else None,
            extra_groups=[] if run_as else None,
            preexec_fn=_SET_PARENT_DEATH_SIGNAL,  # noqa: PLW1509 - no threads exist in the supervisor
        )
    except OSError as exc:
        raise StackError(f"{name}: cannot start {argv[0]}: {exc.strerror}") from None
    return Child(name, process, stop_signal)


class LogStream:
    """Interleaves the children's output on stdout, each line prefixed with ``name |``."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._selector = selectors.DefaultSelector()
        self._out = out or sys.stdout

    def watch(self, child: Child) -> None:
        if child.process.stdout is not None:
            os.set_blocking(child.process.stdout.fileno(), False)
            self._selector.register(child.process.stdout, selectors.EVENT_READ, child)

    def watch_fd(self, fd: int) -> None:
        """Also wake up when ``fd`` is readable (the signal wake-up pipe)."""
        self._selector.register(fd, selectors.EVENT_READ, None)

    def say(self, name: str, text: str) -> None:
        for line in text.splitlines() or [""]:
            self._out.write(f"{name} | {line}\n")
        self._out.flush()

    def pump(self, timeout: float) -> None:
        """Copy whatever the children wrote within ``timeout`` seconds."""
        for key, _ in self._selector.select(timeout):
            child = key.data
            if child is None:
                with contextlib.suppress(BlockingIOError):
                    os.read(key.fd, 512)  # drain the wake-up bytes
                continue
            assert isinstance(child, Child)
            self._read(key.fileobj, child)  # type: ignore[arg-type]

    def _read(self, pipe: IO[bytes], child: Child) -> None:
        try:
            chunk = os.read(pipe.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:
            self._selector.unregister(pipe)
            if child.partial_line:
                self.say(child.name, child.partial_line.decode(errors="replace"))
                child.partial_line = b""
            return
        *lines, child.partial_line = (child.partial_line + chunk).split(b"\n")
        if lines:
            self.say(child.name, b"\n".join(lines).decode(errors="replace"))

    def drain(self, children: Sequence[Child], timeout: float) -> None:
        """Copy what is left in the pipes of exited children."""
        deadline = time.monotonic() + timeout
        while any(c.process.stdout is not None and c.process.stdout in self._watched() for c in children):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.pump(min(remaining, 0.1))

    def _watched(self) -> set[object]:
        return {key.fileobj for key in self._selector.get_map().values()}


def stop_all(children: Sequence[Child], *, timeout: float, logs: LogStream | None = None) -> None:
    """Send each running child its stop signal, wait up to ``timeout`` s, then kill what is left.

    The kill goes to the child's whole process group, so the workers a child forked go too.
    """
    for child in children:
        if child.running:
            _signal_group(child, child.stop_signal)
    deadline = time.monotonic() + timeout
    while any(c.running for c in children) and time.monotonic() < deadline:
        if logs is not None:
            logs.pump(0.05)
        else:
            time.sleep(0.05)
    for child in children:
        if child.running:
            if logs is not None:
                logs.say("stack", f"{child.name} did not stop within {timeout:g} s: killing it")
            _signal_group(child, signal.SIGKILL)
            child.process.wait()
        else:
            _signal_group(child, signal.SIGKILL)  # leftovers of its group, if any
    if logs is not None:
        logs.drain(children, timeout=1.0)


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, sig)


def wait_for(
    child: Child,
    probe: Callable[[], bool],
    timeout: float,
    log_path: Path,
    cancelled: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll ``probe`` until it passes (True) or ``cancelled`` says to give up (False).

    Raises StackError when the child dies or time runs out.
    """
    deadline = time.monotonic() + timeout
    while not probe():
        if cancelled():
            return False
        if not child.running:
            raise StackError(
                f"{child.name} exited with code {child.process.returncode} ({_last_line(log_path)}): "
                f"see {log_path}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"{child.name} not ready within {timeout:g} s: see {log_path}")
        time.sleep(0.05)
    return True


def _last_line(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "empty log"
