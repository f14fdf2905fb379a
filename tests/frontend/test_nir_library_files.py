"""Graphs written by snntorch's, spikingjelly's and norse's own NIR exporters, read by snncompile, reproduce
the library's own forward pass spike for spike (T = 25 steps of random binary input; the library in float32,
snncompile's simulator in float64), under the reader's convention for that library."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snncompile.errors import CompileError
from snncompile.frontend.nir.reader import NirReadOptions, read_nir
from snncompile.frontend.nir.reference import run_nir
from snncompile.sim import simulate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
T, B = 25, 6


def spikes(*shape: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand((T, B, *shape), generator=gen) < 0.3).float()


def linear(n_in: int, n_out: int, seed: int, gain: float = 1.5) -> nn.Linear:
    torch.manual_seed(seed)
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        bound = gain * math.sqrt(3.0 / n_in)
        layer.weight.uniform_(-bound, bound)
        layer.bias.uniform_(0.0, 0.4)
    return layer


def check(path: Path, x: torch.Tensor, reference: torch.Tensor, **options: object) -> None:
    imported = read_nir(path, NirReadOptions(**options))
    xs = x.double().numpy()
    got = simulate(imported.graph, xs).output
    expected = reference.detach().numpy()
    assert got.shape == expected.shape
    assert expected.sum() > 0.03 * expected.size, "the library network should spike"
    assert int(np.sum(got != expected)) == 0
    out = next(src for src, dst in imported.nir_graph.edges if dst in imported.nir_graph.outputs)
    ref = run_nir(imported.nir_graph, xs, imported.dt, imported.convention, imported.reset)[out]
    assert int(np.sum(ref != expected)) == 0  # the NIR reference (with the stated reset) agrees too
    with pytest.raises(CompileError) as info:  # issue 14.9: the writer is not in the file, auto never guesses
        read_nir(path, NirReadOptions(**{**options, "convention": "auto"}))  # type: ignore[arg-type]
    assert info.value.codes == ["SNC816"]


# ----------------------------------------------------------------------------------------------- snntorch
snn = pytest.importorskip("snntorch")


def snntorch_run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    with torch.no_grad():
        return torch.stack([net(x[t]) for t in range(T)])


def snntorch_file(net: nn.Module, x: torch.Tensor, path: Path) -> Path:
    from snntorch.export_nir import export_to_nir

    with contextlib.redirect_stdout(io.StringIO()):
        nir.write(path, export_to_nir(net, x[0], ignore_dims=[0]))
    return path


def leaky(n: int, reset: str, delay: bool, beta: float) -> nn.Module:
    return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True, reset_mechanism=reset,
                     reset_delay=delay)


def synaptic(n: int, delay: bool, alpha: float, beta: float) -> nn.Module:
    return snn.Synaptic(alpha=torch.full((n,), alpha), beta=torch.full((n,), beta), threshold=torch.ones(n),
                        init_hidden=True, reset_mechanism="zero", reset_delay=delay)


@pytest.mark.parametrize(("reset", "delay", "spec"), [
    ("zero", True, "zero"), ("zero", False, "zero"), ("subtract", True, "subtract-delayed"),
    ("subtract", True, None), ("subtract", False, "subtract-double"),
])
def test_snntorch_leaky(reset: str, delay: bool, spec: str | None, tmp_path: Path) -> None:
    net = nn.Sequential(linear(12, 20, 0), leaky(20, reset, delay, 0.85), linear(20, 8, 1), leaky(8, reset, delay, 0.7))
    x = spikes(12)
    check(snntorch_file(net, x, tmp_path / "m.nir"), x, snntorch_run(net, x), convention="snntorch", reset=spec)


@pytest.mark.parametrize(("delay", "spec"), [(False, "zero"), (True, "zero-delayed")])
def test_snntorch_synaptic(delay: bool, spec: str | None, tmp_path: Path) -> None:
    net = nn.Sequential(linear(12, 20, 2), synaptic(20, delay, 0.8, 0.9), linear(20, 8, 3),
                        synaptic(8, delay, 0.6, 0.7))
    x = spikes(12, seed=1)
    check(snntorch_file(net, x, tmp_path / "m.nir"), x, snntorch_run(net, x), convention="snntorch", reset=spec)


def test_snntorch_default_reset_through_the_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from snncompile.cli import cli

    net = nn.Sequential(linear(12, 20, 0), leaky(20, "subtract", True, 0.85), linear(20, 8, 1),
                        leaky(8, "subtract", True, 0.7))
    path = snntorch_file(net, spikes(12), tmp_path / "m.nir")
    result = CliRunner().invoke(cli, [str(path), "--nir-convention", "snntorch", "--nir-reset", "subtract-delayed",
                                      "-T", "20", "--target", "sim", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert "all layers identical" in result.stdout and "lif_ext" in (tmp_path / "out" / "graph.txt").read_text()


def test_snntorch_convention_implies_the_default_leaky_reset_and_says_so(tmp_path: Path) -> None:
    """snntorch writes subtract and zero resets identically. The snntorch convention reads a file without
    --nir-reset as snntorch's default Leaky (subtract, delayed), with warning SNC817; read as plain NIR
    (reset to 0) the same file disagrees with snntorch."""
    net = nn.Sequential(linear(12, 20, 0), leaky(20, "subtract", True, 0.85))
    x = spikes(12)
    path = snntorch_file(net, x, tmp_path / "m.nir")
    imported = read_nir(path, NirReadOptions(convention="snntorch"))
    assert imported.reset == "subtract-delayed" and [w.code for w in imported.warnings] == ["SNC817"]
    assert np.sum(simulate(imported.graph, x.double().numpy()).output != snntorch_run(net, x).numpy()) == 0
    as_nir = read_nir(path, NirReadOptions(convention="nir", dt=1e-4)).graph
    assert np.sum(simulate(as_nir, x.double().numpy()).output != snntorch_run(net, x).numpy()) > 0


def test_snntorch_default_reset_without_the_flag_through_the_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from snncompile.cli import cli

    net = nn.Sequential(linear(12, 20, 0), leaky(20, "subtract", True, 0.85), linear(20, 8, 1),
                        leaky(8, "subtract", True, 0.7))
    path = snntorch_file(net, spikes(12), tmp_path / "m.nir")
    result = CliRunner().invoke(cli, [str(path), "--nir-convention", "snntorch", "-T", "20", "--target", "sim",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert "SNC817" in result.stderr and "lif_ext" in (tmp_path / "out" / "graph.txt").read_text()


# ------------------------------------------------------------------------------------------- spikingjelly
sj = pytest.importorskip("spikingjelly.activation_based")


def sj_case(kind: str) -> tuple[nn.Module, torch.Tensor]:
    from spikingjelly.activation_based import layer, neuron

    make: dict[str, Callable[[], nn.Module]] = {
        "lif": lambda: neuron.LIFNode(tau=2.0, decay_input=True, v_reset=0.0, v_threshold=0.5),
        "lif_no_decay_input": lambda: neuron.LIFNode(tau=4.0, decay_input=False, v_reset=0.0, v_threshold=0.8),
        "if": lambda: neuron.IFNode(v_reset=0.0),
        "cuba": lambda: neuron.CUBALIFNode(c_decay=0.7, v_decay=0.8, v_reset=0.0),
    }
    if kind == "conv":
        torch.manual_seed(4)
        net = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), make["lif"](), layer.AvgPool2d(2), layer.Flatten(),
                            layer.Linear(36, 5), make["lif"]())
        with torch.no_grad():
            net[0].weight.mul_(4.0)
            net[4].weight.mul_(6.0)
        return net, spikes(2, 6, 6, seed=2)
    net = nn.Sequential(layer.Linear(12, 20), make[kind](), layer.Linear(20, 8), make[kind]())
    net[0].load_state_dict(linear(12, 20, 5).state_dict())
    net[2].load_state_dict(linear(20, 8, 6).state_dict())
    return net, spikes(12, seed=3)


@pytest.mark.parametrize(("kind", "dt"), [("lif", 1e-4), ("lif", 1e-3), ("lif_no_decay_input", 1e-4), ("if", 1e-3),
                                          ("cuba", 1e-4), ("cuba", 1e-3), ("conv", 1e-4)])
def test_spikingjelly(kind: str, dt: float, tmp_path: Path) -> None:
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net, x = sj_case(kind)
    path = tmp_path / "m.nir"
    nir.write(path, export_to_nir(net, x[0], dt=dt))
    functional.reset_net(net)
    with torch.no_grad():
        reference = torch.stack([net(x[t]) for t in range(T)])
    check(path, x, reference, convention="spikingjelly", dt=dt)


# -------------------------------------------------------------------------------------------------- norse
norse = pytest.importorskip("norse.torch")


def norse_cell(kind: str, n: int) -> nn.Module:
    zeros = torch.zeros(n)
    if kind == "lifbox":
        return norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 200.0),
                                                       v_th=torch.full((n,), 0.3), v_leak=zeros, v_reset=zeros))
    if kind == "lif":
        return norse.LIFCell(norse.LIFParameters(tau_mem_inv=torch.full((n,), 100.0),
                                                 tau_syn_inv=torch.full((n,), 200.0), v_th=torch.full((n,), 0.3),
                                                 v_leak=zeros, v_reset=zeros))
    return norse.IAFCell(norse.IAFParameters(v_th=torch.full((n,), 1.0)))


@pytest.mark.parametrize("kind", ["lifbox", "lif", "iaf"])
def test_norse(kind: str, tmp_path: Path) -> None:
    net = norse.SequentialState(linear(12, 20, 7), norse_cell(kind, 20), linear(20, 8, 8), norse_cell(kind, 8))
    x = spikes(12, seed=4)
    path = tmp_path / "m.nir"
    nir.write(path, norse.to_nir(net, x[0], dt=1e-3))
    out, state = [], None
    with torch.no_grad():
        for t in range(T):
            y, state = net(x[t], state)
            out.append(y)
    check(path, x, torch.stack(out), convention="norse", dt=1e-3)
