"""Subprocesses that leave nothing behind: run in their own process group, killed as a group on any exit."""

from __future__ import annotations

import os
import signal
import subprocess

from snncompile.errors import error
from snncompile.interrupts import signals_deferred, unblock_in_child


def run_group(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in its own process group (Lava forks a process per layer); on timeout, an interrupt or any
    error the whole group is killed, so no process is left behind. A timeout is SNC903."""
    proc: subprocess.Popen[str] | None = None
    try:
        with signals_deferred():  # an interrupt is delivered once `proc` is set, inside this try
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True, preexec_fn=unblock_in_child,
                                    env={**os.environ, "PYTHONWARNINGS": "ignore"})
        out, err = proc.communicate(timeout=timeout)
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


def _kill_group(proc: subprocess.Popen[str], wait: bool = True) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if wait:
        proc.communicate()
