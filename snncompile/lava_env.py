"""The separate Python 3.10 environment that runs Lava (docs/LOIHI.md 6.1): where it is, and how to create it.

Standard library only, so that any Python runs it: `python -m snncompile.lava_env create [DIR] [--python PY]`
(the same as `snncompile lava-setup`; scripts/setup_lava.sh calls it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ENV_VAR = "SNNCOMPILE_LAVA_PYTHON"
STAMP = ".lava-installed"
PIP = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check")
INSTALLS: tuple[tuple[str, ...], ...] = (
    ("--only-binary=:all:", "lava-nc==0.10.0"),
    ("--no-deps", "lava-dl==0.6.0"),  # its torch requirement is not needed to run netx artifacts
    ("--only-binary=:all:", "h5py>=3.7,<4"),
)
"""What the Lava environment holds: lava-nc 0.10.0 (Python >=3.10,<3.11), lava-dl 0.6.0's netx, h5py."""
PYTHON_CANDIDATES: tuple[tuple[str, ...], ...] = (("python3.10",), ("env", "PYENV_VERSION=3.10.13", "python3.10"))


def default_dir() -> Path:
    """Where `create` puts the environment by default: $XDG_DATA_HOME/snncompile/venv-lava (~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "snncompile" / "venv-lava"


def _interpreter(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def lava_python() -> Path | None:
    """The Lava interpreter: $SNNCOMPILE_LAVA_PYTHON, else .venv-lava in the working directory, in a source
    checkout, or the default_dir() that `snncompile lava-setup` creates."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env) if Path(env).is_file() else None
    checkout = Path(__file__).resolve().parents[1]
    dirs = [Path.cwd() / ".venv-lava", *([checkout / ".venv-lava"] if (checkout / "pyproject.toml").is_file() else []),
            default_dir()]
    return next((_interpreter(d) for d in dirs if _interpreter(d).is_file()), None)


def missing_hint() -> str:
    """How to get a Lava environment (the hint of SNC421), valid for a wheel install."""
    return (f"create one with `snncompile lava-setup` (needs Python 3.10; writes {default_dir()}), or set "
            f"{ENV_VAR} to the python of an environment with lava-nc 0.10.0, lava-dl 0.6.0 and h5py")


class SetupError(RuntimeError):
    """The environment could not be created (no Python 3.10, or pip failed)."""


def is_python310(cmd: Sequence[str], runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> bool:
    try:
        done = runner([*cmd, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"], capture_output=True,
                      text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "True"


def find_python310(runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> list[str]:
    """The command of a Python 3.10 interpreter (lava-nc 0.10.0 needs >=3.10,<3.11)."""
    for cmd in PYTHON_CANDIDATES:
        if shutil.which(cmd[-1]) is not None and is_python310(cmd, runner):
            return list(cmd)
    raise SetupError("no Python 3.10 found (tried python3.10 and PYENV_VERSION=3.10.13 python3.10); lava-nc 0.10.0 "
                     "needs Python >=3.10,<3.11: install one, or pass --python PATH")


def create(env_dir: Path | None = None, python: Sequence[str] | None = None, *, force: bool = False,
           runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
           log: Callable[[str], None] = print) -> Path:
    """Create the Lava environment in `env_dir` (default_dir()) with `python` (default: find_python310()) and
    return its interpreter. An environment already marked complete is kept unless `force`."""
    env_dir = Path(env_dir) if env_dir is not None else default_dir()
    if (env_dir / STAMP).is_file() and not force:
        log(f"{env_dir}: Lava environment already set up")
        return _interpreter(env_dir)
    cmd = list(python) if python else find_python310(runner)
    if python and not is_python310(cmd, runner):
        raise SetupError(f"{' '.join(cmd)} is not a Python 3.10 interpreter (lava-nc 0.10.0 needs >=3.10,<3.11)")
    if env_dir.exists():
        if not (env_dir / "pyvenv.cfg").is_file() and any(env_dir.iterdir()):
            raise SetupError(f"{env_dir} exists and is not a virtual environment: choose another directory")
        shutil.rmtree(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    steps = [[*cmd, "-m", "venv", str(env_dir)]]
    steps += [[str(_interpreter(env_dir)), *PIP, *args] for args in INSTALLS]
    for step in steps:
        log("$ " + " ".join(step))
        try:
            done = runner(step, capture_output=True, text=True)
        except OSError as exc:
            raise SetupError(f"`{' '.join(step)}` could not start: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
            raise SetupError(f"`{' '.join(step)}` failed (exit {done.returncode}): {' / '.join(tail) or 'no output'}")
    (env_dir / STAMP).write_text("lava-nc 0.10.0, lava-dl 0.6.0, h5py\n")
    log(f"{env_dir}: Lava environment ready; snncompile finds it there (or set {ENV_VAR}={_interpreter(env_dir)})")
    return _interpreter(env_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snncompile.lava_env", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("create", help="create the Lava environment")
    make.add_argument("dir", nargs="?", type=Path, help=f"where (default {default_dir()})")
    make.add_argument("--python", help="a Python 3.10 interpreter (default: python3.10 on PATH)")
    make.add_argument("--force", action="store_true", help="recreate an existing environment")
    sub.add_parser("where", help="print the Lava interpreter snncompile would use")
    args = parser.parse_args(argv)
    if args.command == "where":
        found = lava_python()
        print(found if found else f"none: {missing_hint()}")
        return 0 if found else 1
    try:
        create(args.dir, [args.python] if args.python else None, force=args.force)
    except SetupError as exc:
        print(f"lava_env: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
