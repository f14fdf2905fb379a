"""The Lava runtime takes its process group down when snncompile dies without cleaning up (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parents[3] / "snncompile" / "targets" / "loihi"

# The "runtime": leads its own group (as run_group starts it), arms the watchdog, forks a worker as Lava does,
# writes the worker's pid and waits.
RUNTIME = f"""
import os, sys, time
sys.path.insert(0, {str(RUNTIME_DIR)!r})
import lava_runtime
lava_runtime.exit_with_parent(poll_s=0.05)
pid = os.fork()
if pid == 0:
    time.sleep(120)
    os._exit(0)
print(pid, flush=True)
time.sleep(120)
"""

# The "compiler": starts the runtime in a new session, reports the worker's pid, then waits to be killed.
PARENT = f"""
import subprocess, sys, time
p = subprocess.Popen([sys.executable, "-c", {RUNTIME!r}], stdout=subprocess.PIPE, text=True, start_new_session=True)
print(p.pid, p.stdout.readline().strip(), flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for init to reap it is gone for our purpose
        return f.read().split(") ")[1].split()[0] != "Z"


def test_runtime_and_its_forked_workers_die_with_a_killed_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    runtime, worker = (int(p) for p in parent.stdout.readline().split())
    assert _alive(runtime) and _alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while (_alive(runtime) or _alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in (runtime, worker) if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"left running after the parent was killed: {left}"


def test_a_runtime_started_from_a_shell_does_not_arm_the_watchdog() -> None:
    code = f"import sys; sys.path.insert(0, {str(RUNTIME_DIR)!r}); import lava_runtime, threading; " \
           "lava_runtime.exit_with_parent(); print(threading.active_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"  # not a group leader: no watchdog thread, the shell's job group is untouched
