"""The `snncompile` command line: the click group (app), its commands and the target flags."""

from snncompile.cli import commands, sweep, verify  # noqa: F401  (registers the subcommands)
from snncompile.cli.app import cli, main

__all__ = ["cli", "main"]
