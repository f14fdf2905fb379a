"""Atomic artifact directories: emit into a temporary sibling, then rename; never leave partial output."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from snncompile.errors import error

REPORT_NAME = "report.json"
_TOOL_TAG = "snncompile"


def check_output_dir(out: Path) -> None:
    """Fail before compiling if `out` cannot be (re)placed: an existing non-snncompile directory or a file."""
    if out.exists() and not _is_ours(out):
        raise error("SNC402", f"{out} exists and is not an snncompile output directory",
                    hint="choose a new path with -o; snncompile only replaces directories it wrote")


def _is_ours(out: Path) -> bool:
    if not out.is_dir():
        return False
    if not any(out.iterdir()):
        return True
    try:
        return json.loads((out / REPORT_NAME).read_text()).get("tool") == _TOOL_TAG
    except (OSError, ValueError, AttributeError):
        return False


def write_artifact(out: Path, emit: Callable[[Path], list[Path]], report: dict[str, Any]) -> list[Path]:
    """Run `emit(tmp_dir)`, add report.json, then move the directory to `out` atomically."""
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        files = emit(tmp)
        (tmp / REPORT_NAME).write_text(json.dumps({"tool": _TOOL_TAG, **report}, indent=1, default=str) + "\n")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / f.relative_to(tmp) for f in files] + [out / REPORT_NAME]


def _replace(tmp: Path, out: Path) -> None:
    if not out.exists():
        tmp.rename(out)
        return
    backup = out.with_name(f".{out.name}.old")
    shutil.rmtree(backup, ignore_errors=True)
    out.rename(backup)
    tmp.rename(out)
    shutil.rmtree(backup, ignore_errors=True)
