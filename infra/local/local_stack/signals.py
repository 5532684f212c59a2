"""SIGINT and SIGTERM turned into a flag the supervisor checks, plus a pipe that wakes its loop."""

import os
import signal
from types import FrameType


class StopSignals:
    def __init__(self) -> None:
        self.received: str | None = None
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self.wakeup_fd = read_fd
        signal.set_wakeup_fd(write_fd)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        # Later signals change nothing: stopping is already under way, with its own time limits.
        if self.received is None:
            self.received = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.received is not None
