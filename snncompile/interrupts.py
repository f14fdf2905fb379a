"""Holding SIGINT / SIGTERM back across steps that must not be cut in half (a directory swap, a process spawn)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

DEFERRED = frozenset({signal.SIGINT, signal.SIGTERM})


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread for the duration; a signal that arrives is delivered after."""
    if not hasattr(signal, "pthread_sigmask") or os.name != "posix":
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def unblock_in_child() -> None:
    """preexec_fn for a child spawned inside signals_deferred(): it must not inherit the blocked mask."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, DEFERRED)
