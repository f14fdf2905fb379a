"""What the command line shows besides results: log records (rich, on stderr), --quiet / --verbose, progress bars."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

LOGGER = "snncompile"


@dataclass
class Settings:
    """The group's flags, kept on the root click context (ctx.obj)."""

    quiet: bool = False
    verbose: int = 0
    started: float = 0.0
    """time.perf_counter() when the process started (from /proc via main()), else when the group ran."""


STARTED: float | None = None
"""Set by snncompile.cli.main: the process's start on the perf_counter clock (None under click's CliRunner)."""


def process_started() -> float:
    """The perf_counter() value at which this process started (Linux /proc; else now)."""
    now = time.perf_counter()
    try:
        after_paren = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(after_paren[19])  # field 22, starttime, in clock ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - max(age, 0.0)


def settings() -> Settings:
    """The current command's settings (defaults outside a command line run)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Settings) else Settings()


def say(message: str) -> None:
    """A non-error line on stdout, silenced by --quiet."""
    if not settings().quiet:
        click.echo(message)


def show_progress(flag: bool | None = None) -> bool:
    """Progress bars: --progress / --no-progress, by default when stderr is a terminal; never with --quiet."""
    if settings().quiet:
        return False
    return sys.stderr.isatty() if flag is None else flag


class _CliHandler(logging.Handler):
    """Marks the handler this command line installed (replaced, never stacked, by a later invocation)."""


def _handler(verbose: int) -> logging.Handler:
    """rich's handler on a terminal; plain `LEVEL name: message` lines otherwise (CI logs: no wrapping)."""
    if not sys.stderr.isatty():
        plain = type("PlainCliHandler", (logging.StreamHandler, _CliHandler), {})()
        plain.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        return plain
    from rich.console import Console
    from rich.logging import RichHandler

    return type("RichCliHandler", (RichHandler, _CliHandler), {})(
        console=Console(stderr=True), show_time=False, show_path=verbose > 1, markup=False)


def install_logging(ctx: click.Context, quiet: bool, verbose: int) -> None:
    """Log records of `snncompile.*` to stderr (rich on a terminal): INFO, WARNING with --quiet, DEBUG with -v.
    Removed again when the command ends, so a Python caller's logging is left as it was."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logger = logging.getLogger(LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(old)
    handler = _handler(verbose)
    handler.setLevel(level)
    previous = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    ctx.call_on_close(restore)
