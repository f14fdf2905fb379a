"""Progress bars (snncompile.progress) and logging from Python: silent unless asked for."""

from __future__ import annotations

import logging
import sys

import pytest

import snncompile
from snncompile import progress
from snncompile.timing import Timings
from snncompile.verification.lava import _report
from snncompile.verification.process import run_group
from tests.cli.test_cli import small_model


def test_bars_draw_rate_and_eta_on_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal
    monkeypatch.setenv("COLUMNS", "160")
    with progress.shown(), progress.task("chunks", total=4, unit="samples") as advance:
        for _ in range(4):
            advance()
            progress.advance(0)  # the innermost task, from code that does not hold `advance`
    out, err = capsys.readouterr()
    assert out == ""  # bars never go to stdout
    assert "chunks" in err and "4/4" in err and "samples/s" in err and "eta" in err


def test_nothing_is_drawn_or_printed_unless_shown(capsys: pytest.CaptureFixture[str]) -> None:
    assert not progress.active()
    with progress.task("quiet", total=2) as advance:
        advance(2)
    assert list(progress.track([1, 2], "items")) == [1, 2]
    snncompile.compile(small_model(), "sim", check=True)
    assert capsys.readouterr() == ("", "")


def test_the_library_logs_only_through_logging(caplog: pytest.LogCaptureFixture,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("snncompile").handlers)
    with caplog.at_level(logging.WARNING, logger="snncompile"):
        snncompile.compile(small_model(), "sim")
    assert caplog.records == []  # silent at the default level
    with caplog.at_level(logging.DEBUG, logger="snncompile"):
        snncompile.compile(small_model(), "sim")
    names = {r.name for r in caplog.records}
    assert {"snncompile.progress", "snncompile.compile"} <= names
    assert any(r.getMessage().startswith("check on 4 random inputs") for r in caplog.records)
    assert capsys.readouterr() == ("", "")


def test_compile_result_holds_the_timings() -> None:
    result = snncompile.compile(small_model(), "sim")
    names = [p.name for p in result.timings.phases]
    assert names[0] == "trace" and "check" in names and "canonicalize" in names
    rows = result.timings.rows(total=10.0)
    assert rows[-1].name == "other" and sum(r.seconds for r in rows) == pytest.approx(10.0)


def test_timings_other_row_closes_the_sum() -> None:
    t = Timings(started=0.0)
    t.add("a", 1.0)
    t.add("b", 2.0, "pass")
    assert [(r.name, r.seconds) for r in t.rows(total=4.5)] == [("a", 1.0), ("b", 2.0), ("other", 1.5)]
    table = t.table(total=4.5)
    assert table[-1].split() == ["4500.00", "100.0%", "total"] and "pass b" in table[2]
    assert t.to_json(total=4.5)["total"] == 4.5


def test_lava_progress_lines_move_the_bar_and_others_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    moved: list[dict[str, object]] = []

    def advance(n: float = 1, **fields: object) -> None:
        moved.append({"n": n, **fields})

    with caplog.at_level(logging.DEBUG, logger="snncompile"):
        _report("snncompile-progress 12 30", advance)
        _report("artifact: 30 steps, build 1.00s", advance)
    assert moved == [{"n": 0, "completed": 12}]
    assert "lava runtime: artifact: 30 steps" in caplog.text


def test_run_group_streams_stdout_lines_as_they_come() -> None:
    seen: list[str] = []
    code = "import sys\nfor i in range(3):\n    print('line', i, flush=True)\nprint('oops', file=sys.stderr)"
    proc = run_group([sys.executable, "-c", code], timeout=60, on_line=seen.append)
    assert seen == ["line 0", "line 1", "line 2"]
    assert proc.returncode == 0 and proc.stdout.count("line") == 3 and proc.stderr.strip() == "oops"
