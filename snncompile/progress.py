"""Progress of long stages: rich bars with rate and ETA on stderr when turned on (the CLI, or progress=True)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("snncompile.progress")

Advance = Callable[..., None]
"""advance(n=1, **fields): n more units done (fields: e.g. description=...)."""

_ACTIVE: ContextVar[Any] = ContextVar("snncompile_progress", default=None)
_CURRENT: ContextVar[Advance | None] = ContextVar("snncompile_progress_task", default=None)


def active() -> bool:
    """Whether bars are shown now."""
    return _ACTIVE.get() is not None


def _columns() -> tuple[Any, ...]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Units per second (rich's own speed column counts bytes)."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            unit = task.fields.get("unit", "")
            return Text("" if speed is None else f"{speed:.3g} {unit}/s", style="progress.data.speed")

    return (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


@contextmanager
def shown(enabled: bool = True) -> Iterator[None]:
    """Show the bars of every task() inside this block on stderr (nested blocks share one display). rich draws
    nothing on a stderr that is not a terminal (the bars are transient), so CI logs get no bar spam."""
    if not enabled or active():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(*_columns(), console=Console(stderr=True), transient=True) as bars:
        token = _ACTIVE.set(bars)
        try:
            yield
        finally:
            _ACTIVE.reset(token)


@contextmanager
def task(description: str, total: float | None = None, unit: str = "steps") -> Iterator[Advance]:
    """A long stage: a bar (total known) or a spinner with elapsed time (total None) while bars are shown; its
    start and duration are logged at DEBUG on `snncompile.progress` in any case."""
    bars = _ACTIVE.get()
    start = time.perf_counter()
    log.debug("%s ...", description)
    step: Advance = _ignore
    if bars is not None:
        tid = bars.add_task(description, total=total, unit=unit)

        def step(n: float = 1, **fields: Any) -> None:
            bars.update(tid, advance=n, **fields)

    token = _CURRENT.set(step)
    try:
        yield step
    finally:
        _CURRENT.reset(token)
        if bars is not None:
            bars.refresh()  # its last state is drawn once, however short the task was
            bars.remove_task(tid)
    log.debug("%s: %.2f s", description, time.perf_counter() - start)


def advance(n: float = 1, **fields: Any) -> None:
    """Advance the innermost task (for code deep inside a stage that does not hold the task's advance)."""
    (_CURRENT.get() or _ignore)(n, **fields)


def track(items: Iterable[Any], description: str, total: float | None = None, unit: str = "steps",
          label: Callable[[Any], str] | None = None) -> Iterator[Any]:
    """`for item in track(items, ...)`: the items, as a task advanced once per item (described by `label(item)`
    while it runs, when given)."""
    if total is None and isinstance(items, Sized):
        total = len(items)
    with task(description, total, unit) as step:
        for item in items:
            if label is not None:
                step(0, description=label(item))
            yield item
            step()


def _ignore(n: float = 1, **fields: Any) -> None:
    return None
