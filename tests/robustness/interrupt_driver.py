"""Runs the real CLI in a subprocess, pausing at one stage so a test can send SIGINT / SIGTERM right there.

usage: python interrupt_driver.py STAGE READY_FILE [snncompile args...]
STAGE: trace (before anything is written), emit (the staged directory is half written), check (the artifact
is staged and being checked), lava (the Lava process group is running; args: PGID_FILE), none (no pause).
The driver writes READY_FILE when it reaches the stage, then sleeps until the signal arrives.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def _pause(ready: Path) -> None:
    ready.write_text("ready")
    time.sleep(120)


def main() -> None:
    stage, ready, args = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    if stage == "lava":
        from snncompile.cli import signals
        from snncompile.verification.process import run_group

        signals.install()
        script = f"echo $$ > {args[0]}; sleep 120 & sleep 120 & echo go > {ready}; wait"
        try:
            run_group(["sh", "-c", script], timeout=300)
        except signals.Interrupted as exc:
            signals.exit_interrupted(exc.signum)
        return
    import snncompile.api as api

    if stage == "trace":
        original_trace = api.trace

        def trace(*a: Any, **k: Any) -> Any:
            _pause(ready)
            return original_trace(*a, **k)

        api.trace = trace  # type: ignore[assignment]
    elif stage == "emit":
        from snncompile.targets.sim.target import SimTarget

        original_emit = SimTarget.emit

        def emit(self: Any, graph: Any, directory: Path, report: Any) -> Any:
            files = original_emit(self, graph, directory, report)
            _pause(ready)
            return files

        SimTarget.emit = emit  # type: ignore[method-assign]
    elif stage == "check":
        from snncompile.verification import compile_check

        original_check = compile_check.default_check

        def run_check(*a: Any, **k: Any) -> Any:
            outcome = original_check(*a, **k)
            _pause(ready)
            return outcome

        compile_check.default_check = run_check  # type: ignore[assignment]
    sys.argv = ["snncompile", *args]
    from snncompile.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
