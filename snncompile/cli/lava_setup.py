"""The `snncompile lava-setup` subcommand: create the Python 3.10 environment that runs Lava (snncompile.lava_env)."""

from __future__ import annotations

from pathlib import Path

import click

from snncompile.cli.app import cli, guarded
from snncompile.errors import error


@cli.command("lava-setup")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--python", "python", help="a Python 3.10 interpreter (default: python3.10 on PATH)")
@click.option("--force", is_flag=True, help="recreate an environment that is already set up")
@click.option("--debug", is_flag=True, help="show Python tracebacks")
@guarded
def lava_setup_cmd(directory: Path | None, python: str | None, force: bool) -> None:
    """Create the Lava environment (Python 3.10 with lava-nc 0.10.0, lava-dl 0.6.0 and h5py; pip needs network
    access) in DIRECTORY, by default where verify looks for it. `verify` then runs the Lava stage; set
    SNNCOMPILE_LAVA_PYTHON to DIRECTORY/bin/python when DIRECTORY is elsewhere."""
    from snncompile import lava_env

    try:
        lava_env.create(directory, [python] if python else None, force=force, log=click.echo)
    except lava_env.SetupError as exc:
        raise error("SNC422", str(exc), hint="pass --python PATH to a Python 3.10 interpreter; pip needs access "
                    "to a package index") from exc
