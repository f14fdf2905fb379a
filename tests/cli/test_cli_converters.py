"""`--converters` and the `snncompile.converters` entry points load a user's converters into the CLI; `--layout`."""

from __future__ import annotations

import importlib
import json
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from snncompile.cli import cli
from snncompile.frontend.pytorch import converters

EXAMPLE = Path(__file__).parents[2] / "examples" / "converters"


@pytest.fixture()
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in ("my_layers", "my_converters"):
        sys.modules.pop(name, None)
    layers = importlib.import_module("my_layers")
    path = tmp_path / "model.pt"
    torch.save(layers.build().state_dict(), path)
    yield path
    converters._CONVERTERS.pop(layers.HardResetNeuron, None)


def test_without_the_converters_the_users_neuron_is_refused(example: Path) -> None:
    res = CliRunner().invoke(cli, ["compile", str(example), "--factory", "my_layers:build", "--target", "sim"])
    assert res.exit_code == 1 and "SNC107" in res.output  # its time loop cannot be traced


def test_converters_option_loads_the_module_and_the_check_passes(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["compile", str(example), "--factory", "my_layers:build", "--converters",
                                   "my_converters", "--target", "sim", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "report.json").read_text())["input_layout"] == "tb"
    res = CliRunner().invoke(cli, ["inspect", str(example), "--factory", "my_layers:build", "--converters",
                                   "my_converters"])
    assert res.exit_code == 0 and "lif(" in res.output


def test_an_unimportable_converter_module_is_a_coded_error() -> None:
    res = CliRunner().invoke(cli, ["inspect", "model.pt", "--converters", "no_such_module_here"])
    assert res.exit_code == 1 and "SNC111" in res.output and "no_such_module_here" in res.output


def test_entry_point_converters_load_automatically(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    point = metadata.EntryPoint(name="mine", value="my_converters", group=converters.ENTRY_POINT_GROUP)
    monkeypatch.setattr(converters.metadata, "entry_points",
                        lambda group: [point] if group == converters.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(converters, "_loaded_plugins", set())
    res = CliRunner().invoke(cli, ["compile", str(example), "--factory", "my_layers:build", "--target", "sim"])
    assert res.exit_code == 0, res.output


def test_a_broken_entry_point_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    point = metadata.EntryPoint(name="broken", value="no_such_plugin:register", group=converters.ENTRY_POINT_GROUP)
    monkeypatch.setattr(converters.metadata, "entry_points", lambda group: [point])
    monkeypatch.setattr(converters, "_loaded_plugins", set())
    with pytest.raises(Exception) as info:
        converters.load_extensions()
    assert "SNC111" in str(info.value) and "entry point `broken`" in str(info.value)


def test_layout_option_traces_a_time_last_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1]))
    from frontend.papers import repro_stbp

    path = tmp_path / "stbp.pt"
    torch.save(repro_stbp.Net().state_dict(), path)
    res = CliRunner().invoke(cli, ["inspect", str(path), "--factory", "frontend.papers.repro_stbp:Net",
                                   "--input-shape", "2,8,8", "--layout", "time_last", "-T", "3"])
    assert res.exit_code == 0, res.output
    assert "input_layout=time_last" in res.output
