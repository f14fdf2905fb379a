"""Real SIGINT / SIGTERM sent to the CLI in a subprocess at each stage, and the output-commit step in process:
exit 130 / 143, one line, no traceback, the previous artifact byte-identical, no hidden directories left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from robustness.corpus_models import small_model

from snncompile import errors
from snncompile.cli import cli
from snncompile.output import commit_artifact, staged

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("interrupt_driver.py")


def _group_alive(pgid: int, wait_s: float = 5.0) -> list[int]:
    """Processes of group `pgid` that still run (zombies awaiting their reaper count as gone)."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(stat.parent.name))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model file and a previous artifact compiled from it (copied into each test's -o)."""
    import torch

    root = tmp_path_factory.mktemp("interrupts")
    torch.save(small_model(), root / "small.pt")
    result = CliRunner().invoke(cli, [str(root / "small.pt"), "-o", str(root / "artifact"), "--no-check"])
    assert result.exit_code == 0, result.output
    return root / "small.pt", root / "artifact"


def _start(stage: str, work: Path, args: list[str]) -> tuple[subprocess.Popen[str], Path]:
    ready = work / "READY"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, str(DRIVER), stage, str(ready), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=work)
    return proc, ready


def _wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"driver exited early ({proc.returncode}): {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("driver never reached its stage")
        time.sleep(0.05)


@pytest.mark.parametrize(("stage", "sig"), [
    ("trace", signal.SIGINT), ("emit", signal.SIGTERM), ("check", signal.SIGINT), ("check", signal.SIGTERM),
])
def test_signal_leaves_previous_artifact(stage: str, sig: signal.Signals, previous: tuple[Path, Path],
                                         tmp_path: Path) -> None:
    model, artifact = previous
    shutil.copytree(artifact, tmp_path / "out")
    before = _tree(tmp_path)
    proc, ready = _start(stage, tmp_path, [str(model), "-o", str(tmp_path / "out")])
    _wait_for(ready, proc)
    ready.unlink()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (stdout, stderr)
    assert stderr.strip().splitlines() == [stderr.strip()] and "interrupted" in stderr, stderr
    assert "Traceback" not in stderr + stdout
    assert _tree(tmp_path) == before  # the old artifact byte-identical, no .out.*.tmp / .old left


def _wait_for_handlers(proc: subprocess.Popen[str], seconds: float = 60) -> None:
    """Until the CLI's main() has installed its handler (SIGTERM shows in /proc/PID/status SigCgt), so the
    signal lands while torch and the compiler are still being imported."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)
    pytest.fail("the CLI never installed its signal handlers")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_startup(sig: signal.Signals, previous: tuple[Path, Path], tmp_path: Path) -> None:
    """While torch and the compiler are still being imported: the same one line and exit code."""
    model, artifact = previous
    shutil.copytree(artifact, tmp_path / "out")
    before = _tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "snncompile.cli", str(model), "-o", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    _wait_for_handlers(proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (stdout, stderr)
    assert "Traceback" not in stderr + stdout, stderr
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_kills_lava_process_group(sig: signal.Signals, tmp_path: Path) -> None:
    """The Lava stage's subprocess and everything it forked are gone after an interrupt."""
    pgid_file = tmp_path / "pgid"
    proc, ready = _start("lava", tmp_path, [str(pgid_file)])
    _wait_for(ready, proc)
    pgid = int(pgid_file.read_text())
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig and "Traceback" not in stderr, stderr
    alive = _group_alive(pgid)
    assert not alive, subprocess.run(["ps", "-o", "pid,ppid,pgid,stat,lstart,cmd", "-g", str(pgid)],
                                     capture_output=True, text=True).stdout + stderr


def test_lava_timeout_is_a_coded_error_and_leaves_no_process(tmp_path: Path) -> None:
    from snncompile.verification.process import run_group

    pgid_file = tmp_path / "pgid"
    with pytest.raises(errors.CompileError) as info:
        run_group(["sh", "-c", f"echo $$ > {pgid_file}; sleep 60 & sleep 60 & wait"], timeout=1.0)
    assert info.value.codes == ["SNC903"] and "did not finish" in str(info.value)
    assert not _group_alive(int(pgid_file.read_text()))


# --- the output-commit step in process -------------------------------------------------------------------------


def test_failed_check_keeps_previous_artifact(previous: tuple[Path, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The default check runs before anything is written: SNC403 leaves -o as it was."""
    from snncompile.verification import compile_check

    model, artifact = previous
    shutil.copytree(artifact, tmp_path / "out")
    before = _tree(tmp_path)

    def failing_check(*_a: object, **_k: object) -> None:
        raise errors.error("SNC403", "the compiled graph does not reproduce the model's spikes")

    monkeypatch.setattr(compile_check, "default_check", failing_check)
    result = CliRunner().invoke(cli, [str(model), "-o", str(tmp_path / "out"), "--no-check", "--check"])
    assert result.exit_code == 1 and "error[SNC403]" in result.stderr and "wrote" not in result.output
    assert _tree(tmp_path) == before


def test_failing_emit_keeps_previous_artifact(previous: tuple[Path, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from snncompile.targets.sim.target import SimTarget

    model, artifact = previous
    shutil.copytree(artifact, tmp_path / "out")
    before = _tree(tmp_path)

    def broken_emit(self: object, graph: object, directory: Path, report: object) -> list[Path]:
        (directory / "graph.json").write_text("{half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SimTarget, "emit", broken_emit)
    result = CliRunner().invoke(cli, [str(model), "-o", str(tmp_path / "out")])
    assert result.exit_code == 3 and "No space left" in result.output
    assert _tree(tmp_path) == before


def test_success_replaces_and_leaves_no_hidden_dirs(previous: tuple[Path, Path], tmp_path: Path) -> None:
    model, artifact = previous
    shutil.copytree(artifact, tmp_path / "out")
    (tmp_path / "out" / "graph.txt").write_text("stale")
    result = CliRunner().invoke(cli, [str(model), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "graph.txt").read_text() != "stale"


def test_commit_artifact_swaps_whole_directories(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    (out / "report.json").write_text('{"tool": "snncompile"}')

    def emit(d: Path) -> list[Path]:
        (d / "new.txt").write_text("new")
        return [d / "new.txt"]

    with staged(out, emit, {}) as (tmp, files):
        assert (out / "old.txt").exists() and tmp.parent == out.parent and tmp.name.startswith(".out.")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt", "report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [f.name for f in files] == ["new.txt", "report.json"]


def test_commit_artifact_replaces_previous(tmp_path: Path) -> None:
    out, tmp = tmp_path / "out", tmp_path / ".out.x.tmp"
    out.mkdir()
    (out / "a").write_text("old")
    tmp.mkdir()
    (tmp / "b").write_text("new")
    commit_artifact(tmp, out)
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "b").read_text() == "new"


def test_exception_in_body_discards_staged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), staged(out, lambda d: [], {}):
        raise RuntimeError("check failed")
    assert list(tmp_path.iterdir()) == []
