"""--quiet, --verbose, --time-passes and progress: what goes to stdout and to stderr (docs/LOGGING.md)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snncompile.cli import cli
from tests.cli.test_cli import small_model

BAR = re.compile("eta |samples/s|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")  # rich progress columns (tables draw ━ too)


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.pt"
    torch.save(small_model(), path)
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_quiet_prints_nothing_but_errors_and_warnings(model_file: Path, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("--quiet", "compile", str(model_file), "-o", str(tmp_path / "out"))
    assert code == 0 and stdout == "" and stderr == ""
    np.save(tmp_path / "x.npy", np.zeros((5, 2, 1, 6, 6)))
    code, stdout, stderr = invoke("-q", "simulate", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "-o",
                                  str(tmp_path / "r.npz"))
    assert code == 0 and stdout == "" and stderr == "" and (tmp_path / "r.npz").is_file()
    code, stdout, stderr = invoke("-q", str(tmp_path / "missing.pt"))  # the default command after the flag
    assert code == 2 and stdout == "" and "SNC108" in stderr  # errors are shown whatever the flags
    code, stdout, _ = invoke("compile", str(model_file), "-o", str(tmp_path / "out"))
    assert code == 0 and "compiled" in stdout and "wrote" in stdout  # without --quiet, for contrast


def test_verbose_logs_debug_records_on_stderr_only(model_file: Path) -> None:
    code, stdout, stderr = invoke("-v", "compile", str(model_file), "--no-check")
    assert code == 0
    assert "DEBUG snncompile.progress: trace" in stderr and "DEBUG snncompile.compile: traced" in stderr
    assert "DEBUG" not in stdout and "compiled" in stdout
    code, _, stderr = invoke("compile", str(model_file), "--no-check")
    assert code == 0 and "DEBUG" not in stderr


def test_the_command_line_leaves_python_logging_as_it_was(model_file: Path) -> None:
    logger = logging.getLogger("snncompile")
    handlers, level = list(logger.handlers), logger.level
    assert invoke("-v", "compile", str(model_file), "--no-check")[0] == 0
    assert logger.handlers == handlers and logger.level == level


def time_rows(stderr: str) -> dict[str, float]:
    rows = {}
    for line in stderr.splitlines():
        m = re.match(r"\s*([0-9.]+)\s+[0-9.]+%\s+(.+)$", line)
        if m:
            rows[m[2]] = float(m[1])
    return rows


def test_time_passes_rows_cover_the_whole_run_and_sum_to_the_total(model_file: Path, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("compile", str(model_file), "-t", "loihi", "-o", str(tmp_path / "out"),
                                  "--time-passes")
    assert code == 0 and "ms" not in stdout
    rows = time_rows(stderr)
    for name in ("load", "trace", "pass canonicalize", "pass loihi-quantize{overflow=avoid}", "check", "emit",
                 "other", "total", "import the compiler (torch, ...)"):
        assert name in rows, (name, stderr)
    total = rows.pop("total")
    assert sum(rows.values()) == pytest.approx(total, abs=0.01 * len(rows))  # printed to 0.01 ms
    assert rows["check"] > rows["pass canonicalize"]
    timings = json.loads((tmp_path / "out" / "report.json").read_text())["timings"]
    names = [r["name"] for r in timings["rows"]]
    assert names[:2] == ["load", "trace"] and {"check", "emit", "other"} <= set(names)
    assert sum(r["seconds"] for r in timings["rows"]) == pytest.approx(timings["total"], rel=1e-9)
    assert next(r["name"] for r in timings["rows"] if r["kind"] == "pass") == "canonicalize"


def test_progress_never_reaches_stdout_and_draws_nothing_without_a_terminal(model_file: Path,
                                                                            tmp_path: Path) -> None:
    code, stdout, stderr = invoke("verify", str(model_file), "-t", "sim", "--data", "random", "-n", "6",
                                  "--progress", "--json", str(tmp_path / "v.json"), "--no-lava")
    assert code == 0, stderr
    assert not BAR.search(stdout) and not BAR.search(stderr)  # CliRunner's stderr is not a terminal
    assert "INFO snncompile.verification: stage pytorch: 6 samples" in stderr
    assert json.loads((tmp_path / "v.json").read_text())["data"]["samples"] == 6
    code, stdout, stderr = invoke("-q", "verify", str(model_file), "-t", "sim", "--data", "random", "-n", "6",
                                  "--progress", "--no-lava")
    assert code == 0 and stdout == "" and "INFO" not in stderr
