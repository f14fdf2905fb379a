"""The `snncompile` command line: the click group (app), its commands and the target flags.

Imported lazily so that `main` installs the signal handlers before torch and the compiler are imported."""

from __future__ import annotations

from typing import Any

__all__ = ["cli", "main"]


def main() -> None:
    """The console entry point: signals first, then the commands (an interrupt at any point exits 130 / 143)."""
    from snncompile.cli import console, signals

    console.STARTED = console.process_started()
    signals.install()
    try:
        from snncompile.cli.app import run

        run(_load_cli())
    except signals.Interrupted as exc:
        signals.exit_interrupted(exc.signum)
    except KeyboardInterrupt:
        signals.exit_interrupted(2)


def _load_cli() -> Any:
    from snncompile.cli import commands, lava_setup, sweep, verify  # noqa: F401  (registers the subcommands)
    from snncompile.cli.app import cli

    return cli


def __getattr__(name: str) -> Any:
    if name == "cli":
        return _load_cli()
    raise AttributeError(name)
