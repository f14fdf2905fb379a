"""snncompile.lava_env and `snncompile lava-setup`: where the Lava interpreter is found, and how the environment
is made (the commands are recorded by a fake runner: no network, no Python 3.10 needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from snncompile import lava_env
from snncompile.cli import cli


class FakeRunner:
    """Records the commands; `python3.10 -c ...` answers whether it is 3.10 (`is310`)."""

    def __init__(self, is310: bool = True, fail: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.is310, self.fail = is310, fail

    def __call__(self, cmd: list[str], **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(cmd)
        if "-c" in cmd:
            return subprocess.CompletedProcess(cmd, 0, f"{self.is310}\n", "")
        if self.fail and self.fail in " ".join(cmd):
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")
        if cmd[1:3] == ["-m", "venv"]:
            Path(cmd[3], "bin").mkdir(parents=True)
            Path(cmd[3], "pyvenv.cfg").write_text("")
        return subprocess.CompletedProcess(cmd, 0, "", "")


def test_create_makes_a_venv_and_installs_the_lava_packages(tmp_path: Path) -> None:
    runner = FakeRunner()
    python = lava_env.create(tmp_path / "env", ["py310"], runner=runner, log=lambda _m: None)
    assert python == tmp_path / "env" / "bin" / "python"
    made = [c for c in runner.commands if "-c" not in c]
    assert made[0] == ["py310", "-m", "venv", str(tmp_path / "env")]
    installed = [c[-1] for c in made[1:]]
    assert installed == ["lava-nc==0.10.0", "lava-dl==0.6.0", "h5py>=3.7,<4"]
    assert ["--no-deps"] == [a for a in made[2] if a == "--no-deps"]  # lava-dl without its torch
    assert (tmp_path / "env" / lava_env.STAMP).is_file()
    again = FakeRunner()
    lava_env.create(tmp_path / "env", ["py310"], runner=again, log=lambda _m: None)
    assert again.commands == []  # set up already: kept


def test_create_refuses_a_directory_that_is_not_a_venv(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(lava_env.SetupError, match="not a virtual environment"):
        lava_env.create(tmp_path / "mine", ["py310"], runner=FakeRunner(), log=lambda _m: None)
    assert (tmp_path / "mine" / "notes.txt").is_file()


def test_create_refuses_another_python_and_reports_pip_failures(tmp_path: Path) -> None:
    with pytest.raises(lava_env.SetupError, match=r"not a Python 3\.10"):
        lava_env.create(tmp_path / "a", ["python3.11"], runner=FakeRunner(is310=False), log=lambda _m: None)
    with pytest.raises(lava_env.SetupError, match=r"lava-nc==0\.10\.0.*No matching distribution"):
        lava_env.create(tmp_path / "b", ["py310"], runner=FakeRunner(fail="lava-nc"), log=lambda _m: None)
    assert not (tmp_path / "b" / lava_env.STAMP).exists()


def test_lava_python_honours_the_variable_then_the_default_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "py"
    fake.write_text("")
    monkeypatch.setenv("SNNCOMPILE_LAVA_PYTHON", str(fake))
    assert lava_env.lava_python() == fake
    monkeypatch.setenv("SNNCOMPILE_LAVA_PYTHON", str(tmp_path / "absent"))
    assert lava_env.lava_python() is None  # a variable naming nothing is not silently replaced
    monkeypatch.delenv("SNNCOMPILE_LAVA_PYTHON")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(lava_env, "__file__", str(tmp_path / "site" / "snncompile" / "lava_env.py"))
    assert lava_env.lava_python() is None
    default = lava_env.default_dir() / "bin" / "python"
    default.parent.mkdir(parents=True)
    default.write_text("")
    assert lava_env.lava_python() == default and str(tmp_path / "data") in lava_env.missing_hint()


def test_lava_setup_command_without_python310_is_snc422(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lava_env, "PYTHON_CANDIDATES", (("no-such-python3.10",),))
    result = CliRunner().invoke(cli, ["lava-setup", str(tmp_path / "env")])
    assert result.exit_code == 1 and "SNC422" in result.stderr and "--python" in result.stderr
    assert not (tmp_path / "env").exists()
