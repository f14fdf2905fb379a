"""`simulate --device` and `verify --device` through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import snncompile.nn as snn
from snncompile.cli import cli


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(snn.TimeDistributed(nn.Flatten(), nn.Linear(16, 8)), snn.LIF(v_th=0.3), snn.Readout(8, 3))
    model.input_shape, model.timesteps = (1, 4, 4), 4
    return model.eval()


@pytest.fixture()
def artifact(tmp_path: Path) -> tuple[Path, Path, Path]:
    torch.save(small_model(), tmp_path / "m.pt")
    assert CliRunner().invoke(cli, [str(tmp_path / "m.pt"), "-t", "loihi", "-o", str(tmp_path / "a"),
                                    "--no-check"]).exit_code == 0
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((4, 2, 1, 4, 4)))
    return tmp_path / "m.pt", tmp_path / "a", tmp_path / "x.npy"


def test_simulate_on_the_cpu_device(artifact: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, out, x = artifact
    args = ["simulate", str(out), "--input", str(x), "-o"]
    default = CliRunner().invoke(cli, [*args, str(tmp_path / "d.npz")])
    cpu = CliRunner().invoke(cli, [*args, str(tmp_path / "c.npz"), "--device", "cpu"])
    assert default.exit_code == cpu.exit_code == 0, cpu.stderr
    with np.load(tmp_path / "d.npz") as d, np.load(tmp_path / "c.npz") as c:
        assert sorted(d) == sorted(c) and all(np.array_equal(d[k], c[k]) for k in d)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_simulate_and_verify_on_cuda_without_a_gpu_exit_1_with_snc960(artifact: tuple[Path, Path, Path],
                                                                      tmp_path: Path) -> None:
    model, out, x = artifact
    sim = CliRunner().invoke(cli, ["simulate", str(out), "--input", str(x), "-o", str(tmp_path / "r.npz"),
                                   "--device", "cuda"])
    assert sim.exit_code == 1 and "SNC960" in sim.stderr and "Traceback" not in sim.output
    assert not (tmp_path / "r.npz").exists()
    ver = CliRunner().invoke(cli, ["verify", str(model), "--data", "random", "-n", "2", "--no-lava",
                                   "--device", "cuda"])
    assert ver.exit_code == 1 and "SNC960" in ver.stderr


def test_an_unknown_device_is_a_usage_error(artifact: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, out, x = artifact
    result = CliRunner().invoke(cli, ["simulate", str(out), "--input", str(x), "-o", str(tmp_path / "r.npz"),
                                      "--device", "tpu"])
    assert result.exit_code == 2
