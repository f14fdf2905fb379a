"""One signal path for the CLI: SIGINT / SIGTERM become an Interrupted exception, then exit 130 / 143.

Raising (instead of dying) lets every `finally` run: staged artifact directories are removed, the Lava
subprocess group is killed, and the previous output stays as it was (output.commit_artifact holds both
signals back while it swaps directories).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM


class Interrupted(BaseException):
    """The run was stopped by a signal (a BaseException, so `except Exception` handlers do not swallow it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(signal.Signals(signum).name)


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to Interrupted (call first thing in the CLI's main, before heavy imports)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise)


def ignore() -> None:
    """Ignore further SIGINT / SIGTERM while the process reports an interrupt and exits."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def exit_interrupted(signum: int) -> None:
    """One line on stderr, then exit 128 + signum (130 for SIGINT, 143 for SIGTERM); no traceback."""
    ignore()
    try:
        sys.stderr.write(f"interrupted ({signal.Signals(signum).name}): stopped; nothing was left half-written\n")
        sys.stderr.flush()
    finally:
        sys.exit(128 + signum)
