"""Atomic artifact directories: emit into a temporary sibling, check, then swap in; never leave partial output."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from snncompile.errors import error
from snncompile.fsmode import as_created
from snncompile.interrupts import signals_deferred

REPORT_NAME = "report.json"
_TOOL_TAG = "snncompile"


def check_output_dir(out: Path) -> None:
    """Fail before compiling if `out` cannot be (re)placed: the working directory or one above it, a path under
    a file, a directory we may not write into, or an existing file / non-snncompile directory."""
    from snncompile.validate import output_path

    output_path(out)
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


def commit_artifact(tmp: Path, out: Path) -> None:
    """Swap the checked directory `tmp` in as `out` (replacing a previous snncompile output). SIGINT / SIGTERM
    are held back until the swap is complete, so an interrupt leaves either the old or the new directory."""
    with signals_deferred():
        if not out.exists():
            tmp.rename(out)
            return
        backup = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
        backup.rmdir()
        out.rename(backup)
        try:
            tmp.rename(out)
        except BaseException:
            backup.rename(out)
            raise
        shutil.rmtree(backup, ignore_errors=True)


def discard_artifact(tmp: Path) -> None:
    """Remove a staged directory that will not be committed (interrupts held back while it goes)."""
    with signals_deferred():
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def staged(out: Path, emit: Callable[[Path], list[Path]], report: dict[str, Any]) -> Iterator[tuple[Path, list[Path]]]:
    """`with staged(out, emit, report) as (tmp, files): check(...)`: `emit(tmp)` and report.json go into a new
    hidden sibling `tmp` of `out`; the body checks them; on normal exit commit_artifact(tmp, out) swaps them in.
    On any exception or interrupt (from emit, the body, or the swap) `tmp` is removed and `out` is untouched."""
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        with signals_deferred():  # so that an interrupt cannot fall between mkdtemp and `tmp = ...`
            tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        as_created(tmp)
        files = emit(tmp)
        (tmp / REPORT_NAME).write_text(json.dumps({"tool": _TOOL_TAG, **report}, indent=1, default=str) + "\n")
        yield tmp, [*files, tmp / REPORT_NAME]
        commit_artifact(tmp, out)
    except BaseException:
        if tmp is not None:
            discard_artifact(tmp)
        raise


def final_paths(files: list[Path], tmp: Path, out: Path) -> list[Path]:
    """The staged `files` as they are named once `tmp` is committed as `out`."""
    return [out / f.relative_to(tmp) for f in files]
