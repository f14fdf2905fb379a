"""Subprocesses that leave nothing behind: run in their own process group, killed as a group on any exit."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from snncompile.errors import error
from snncompile.interrupts import signals_deferred, unblock_in_child


def run_group(cmd: list[str], timeout: float, on_line: Callable[[str], None] | None = None
              ) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in its own process group (Lava forks a process per layer); on timeout, an interrupt or any
    error the whole group is killed, so no process is left behind. A timeout is SNC903. on_line: called with
    each stdout line as it comes (from this thread: the lines are read by a helper thread and queued)."""
    proc: subprocess.Popen[str] | None = None
    try:
        with signals_deferred():  # an interrupt is delivered once `proc` is set, inside this try
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True, preexec_fn=unblock_in_child,
                                    env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if on_line is None:
            out, err = proc.communicate(timeout=timeout)
        else:
            out, err = _streamed(proc, timeout, on_line)
    except subprocess.TimeoutExpired:
        assert proc is not None
        _kill_group(proc)
        raise error("SNC903", f"the Lava run did not finish within {timeout:g} s and was stopped",
                    hint="run fewer samples in Lava (--lava-samples) or skip it (--no-lava)") from None
    except BaseException:
        if proc is not None:
            _kill_group(proc)
        raise
    finally:
        if proc is not None:
            _kill_group(proc, wait=False)  # strays the runtime left behind after it exited
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _streamed(proc: subprocess.Popen[str], timeout: float, on_line: Callable[[str], None]) -> tuple[str, str]:
    """communicate(), but each stdout line goes to on_line as soon as it is read."""
    lines: queue.Queue[str | None] = queue.Queue()
    err: list[str] = []

    def pump_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_err() -> None:
        assert proc.stderr is not None
        err.append(proc.stderr.read())

    readers = [threading.Thread(target=f, daemon=True) for f in (pump_out, pump_err)]
    for r in readers:
        r.start()
    deadline = time.monotonic() + timeout
    out: list[str] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            line = lines.get(timeout=min(left, 0.5))
        except queue.Empty:
            continue
        if line is None:
            break
        out.append(line)
        on_line(line.rstrip("\n"))
    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    readers[1].join(timeout=5)
    return "".join(out), "".join(err)


def _kill_group(proc: subprocess.Popen[str], wait: bool = True) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if wait:
        proc.communicate()
