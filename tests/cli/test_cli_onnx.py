"""`snncompile model.onnx`: a PyTorch step module exported to ONNX compiles for loihi and onnx, end to end."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from snncompile.cli import cli
from snncompile.frontend.onnx.reader import read_onnx


class Step(nn.Module):
    """Two Loihi-friendly LIF layers (shared decay, zero reset, strict threshold) and a readout."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(16, 12), nn.Linear(12, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h1 = 0.5 * v1 + self.fc1(x)
        s1 = (h1 > 0.4).to(h1.dtype)
        h2 = 0.75 * v2 + self.fc2(s1)
        s2 = (h2 > 0.3).to(h2.dtype)
        return s2, h1 * (1 - s1), h2 * (1 - s2), self.out(s2)


def export(module: nn.Module, path: Path, n_in: int = 16) -> Path:
    names = (["x:in", "state:lif1", "state:lif2"], ["lif2", "state_next:lif1", "state_next:lif2", "logits"])
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(2, n_in), torch.zeros(2, 12), torch.zeros(2, 8)), f, dynamo=False,
                          input_names=names[0], output_names=names[1],
                          dynamic_axes={n: {0: "batch"} for n in names[0] + names[1]})
    path.write_bytes(f.getvalue())
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def step_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    module = Step().eval()
    with torch.no_grad():
        module.fc1.weight.mul_(3.0)
        module.fc2.weight.mul_(3.0)
    return export(module, tmp_path / "step.onnx")


def test_onnx_source_compiles_for_onnx_and_round_trips(step_file: Path, tmp_path: Path) -> None:
    code, stdout, stderr = run(str(step_file), "--target", "onnx", "-o", str(tmp_path / "a"), "-T", "8")
    assert code == 0, stderr
    assert "run step by step with onnxruntime" in stdout and "all layers identical" in stdout
    first = tmp_path / "a" / "model.onnx"
    assert read_onnx(first).timesteps == 8
    code, stdout, stderr = run(str(first), "--target", "onnx", "-o", str(tmp_path / "b"))
    assert code == 0, stderr
    assert (tmp_path / "b" / "model.onnx").read_bytes() == first.read_bytes()


def test_onnx_source_compiles_for_loihi(step_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "loihi"
    code, stdout, stderr = run(str(step_file), "--target", "loihi", "-o", str(out), "-T", "8")
    assert code == 0, stderr
    assert {"network.net", "manifest.json", "report.json"} <= {p.name for p in out.iterdir()}
    assert "lif2" in stdout


def test_onnx_source_inspect(step_file: Path) -> None:
    code, stdout, stderr = run("inspect", str(step_file))
    assert code == 0, stderr
    assert "%lif1 = lif(%fc1)" in stdout and "%logits = readout(%lif2)" in stdout


def test_unreadable_onnx_source_exits_1_naming_the_node(tmp_path: Path) -> None:
    class Sig(Step):
        def forward(self, x: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return super().forward(torch.sigmoid(x), v1, v2)

    path = export(Sig().eval(), tmp_path / "sig.onnx")
    code, _, stderr = run(str(path), "--target", "onnx", "-o", str(tmp_path / "out"))
    assert code == 1
    assert "SNC951" in stderr and "/Sigmoid" in stderr and "ai.onnx.Sigmoid" in stderr
    assert not (tmp_path / "out").exists()


def test_integer_onnx_model_simulates_but_is_not_quantized_again(tmp_path: Path) -> None:
    model = Path(__file__).parents[2] / "examples" / "models" / "s2nn_mlp.pt"
    res = CliRunner().invoke(cli, ["compile", str(model), "--target", "onnx-loihi", "-o", str(tmp_path / "int")])
    assert res.exit_code == 0, res.output
    source = str(tmp_path / "int" / "model.onnx")
    res = CliRunner().invoke(cli, ["compile", source, "--target", "sim"])
    assert res.exit_code == 0 and "all layers identical" in res.output, res.output
    res = CliRunner().invoke(cli, ["compile", source, "--target", "loihi", "-o", str(tmp_path / "again")])
    assert res.exit_code == 1 and "already compiled for Loihi" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "again").exists()


def test_simulate_runs_an_onnx_artifact_like_the_bit_exact_simulator(tmp_path: Path) -> None:
    import numpy as np

    from snncompile.targets.loihi.artifact import simulate_artifact

    model = Path(__file__).parents[2] / "examples" / "models" / "mpbn_cnn.pt"
    runner = CliRunner()
    for target in ("loihi", "onnx-loihi"):
        res = runner.invoke(cli, ["compile", str(model), "--target", target, "-o", str(tmp_path / target),
                                  "--no-check"])
        assert res.exit_code == 0, res.output
    x = np.random.default_rng(0).random((4, 3, 1, 8, 8))
    np.save(tmp_path / "x.npy", x)
    res = runner.invoke(cli, ["simulate", str(tmp_path / "onnx-loihi"), "--input", str(tmp_path / "x.npy"), "-o",
                              str(tmp_path / "r.npz")])
    assert res.exit_code == 0 and "onnxruntime" in res.output, res.output
    graph, ref = simulate_artifact(tmp_path / "loihi", x)
    latency = graph.metadata["loihi"]["latency"]
    with np.load(tmp_path / "r.npz") as got:
        (readout,) = [got[k] for k in got.files if got[k].ndim == 2]  # the readout node, named as in the IR
        np.testing.assert_allclose(readout, ref["readout"], rtol=0, atol=1e-12)
        assert readout.shape == (3, 10) and latency > 0
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 3, 5)))
    res = runner.invoke(cli, ["simulate", str(tmp_path / "onnx-loihi"), "--input", str(bad), "-o",
                              str(tmp_path / "bad.npz")])
    assert res.exit_code == 1 and "SNC402" in res.output and not (tmp_path / "bad.npz").exists()
