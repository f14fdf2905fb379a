"""Shared test fixtures: model randomization, torch-vs-IR equivalence checking, golden text files."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from snncompile import ir
from snncompile import nn as snn
from snncompile.frontend import trace
from snncompile.sim import simulate

NEURON_TYPES: tuple[type[nn.Module], ...] = (snn.LIF, snn.MLF, snn.S2NN, snn.MPBNLIF)
NORM_TYPES: tuple[type[nn.Module], ...] = (snn.TDBatchNorm, snn.PSPNorm, snn.MPBNLIF, nn.modules.batchnorm._BatchNorm)
UPDATE_GOLDEN = os.environ.get("SNNCOMPILE_UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True, scope="session")
def _torch_threads() -> None:
    torch.set_num_threads(2)


# ---------------------------------------------------------------------------------------------------------
# Golden files


def check_golden(path: Path, text: str) -> None:
    """Compare `text` with the golden file; SNNCOMPILE_UPDATE_GOLDEN=1 (re)writes it instead."""
    text = text.rstrip("\n") + "\n"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; run with SNNCOMPILE_UPDATE_GOLDEN=1 and review it")
    expected = path.read_text()
    assert text == expected, f"output differs from golden {path.name} (SNNCOMPILE_UPDATE_GOLDEN=1 rewrites)"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """golden(name, text): compare with `golden/<name>` next to the requesting test module."""
    directory = Path(request.path).parent / "golden"
    return lambda name, text: check_golden(directory / name, text)


# ---------------------------------------------------------------------------------------------------------
# Random models and inputs


def make_input(kind: str, shape: tuple[int, ...], timesteps: int, batch: int, seed: int,
               scale: float = 1.0) -> torch.Tensor:
    """Random float64 input [T, B, *shape]: Gaussian currents, or binary spikes at rate 0.3."""
    gen = torch.Generator().manual_seed(seed)
    full = (timesteps, batch, *shape)
    if kind == "currents":
        return torch.randn(full, generator=gen, dtype=torch.float64) * scale
    if kind == "spikes":
        return (torch.rand(full, generator=gen, dtype=torch.float64) < 0.3).double()
    raise ValueError(kind)


def _fan_in(m: nn.Module) -> int:
    return int(m.weight[0].numel())  # type: ignore[index]


def randomize_model(model: nn.Module, calibration: torch.Tensor, seed: int, gain: float = 1.0) -> nn.Module:
    """Draw weights, mixed-sign norm gammas and betas, set the running statistics from a train-mode
    pass on `calibration` (so that neurons fire), then perturb them. Returns the model in eval, float64."""
    gen = torch.Generator().manual_seed(seed + 1000)

    def uniform(like: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(like.shape, generator=gen, dtype=like.dtype)

    model.double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = gain * math.sqrt(3.0 / _fan_in(m))
                m.weight.copy_(uniform(m.weight, -bound, bound))
                if m.bias is not None:
                    m.bias.copy_(uniform(m.bias, -0.2, 0.2))
            if isinstance(m, NORM_TYPES):
                weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
                if weight is not None:
                    sign = torch.where(torch.rand(weight.shape, generator=gen) < 0.25, -1.0, 1.0).double()
                    weight.copy_(sign * uniform(weight, 0.75, 2.0))
                if bias is not None:
                    bias.copy_(uniform(bias, -0.2, 0.4))
        norms = [m for m in model.modules() if isinstance(m, NORM_TYPES)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 1.0  # the running statistics become those of the calibration batch
        model.train()
        model(calibration)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        for m in norms:
            for name in ("running_var", "running_moment2"):
                if getattr(m, name, None) is not None:
                    getattr(m, name).mul_(uniform(getattr(m, name), 0.8, 1.25))
            if getattr(m, "running_mean", None) is not None:
                std = (m.running_var + 1e-3).sqrt()
                m.running_mean.add_(0.1 * std * torch.randn(m.running_mean.shape, generator=gen).double())
    return model.eval()


# ---------------------------------------------------------------------------------------------------------
# Torch forward vs traced IR in the float simulator


def _firing_rate(out: torch.Tensor) -> float:
    return float((out != 0).double().mean())


@dataclass
class Equivalence:
    """What one torch-vs-IR comparison saw: firing rates per neuron module and the matched node origins."""

    graph: ir.Graph
    rates: dict[str, float] = field(default_factory=dict)
    matched: set[str] = field(default_factory=set)
    neuron_outputs: dict[str, np.ndarray] = field(default_factory=dict)


def _record_modules(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    recorded: dict[str, torch.Tensor] = {}
    handles = []
    for path, module in model.named_modules():
        if not path:
            continue

        def hook(_m: nn.Module, _in: object, out: object, path: str = path) -> None:
            if isinstance(out, torch.Tensor):
                recorded[path] = out.detach().clone()
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    return y, recorded


def check_equivalence(build: Callable[[], nn.Module], input_shape: tuple[int, ...], timesteps: int, kind: str,
                      seed: int, batch: int = 3, scale: float = 1.0, gain: float | None = None,
                      neuron_types: tuple[type[nn.Module], ...] = NEURON_TYPES,
                      min_rate: float = 0.02, max_rate: float = 0.98) -> Equivalence:
    """Build and randomize a model, run it with forward hooks, trace it, simulate the IR in float64, and
    assert: identical spikes at every neuron module and timestep, every other module's output equal to
    rounding, readout within 1e-5, every neuron module matched to an IR node by origin, and firing rates
    within [min_rate, max_rate] in every neuron layer."""
    torch.manual_seed(seed)
    model = build()
    calibration = make_input(kind, input_shape, timesteps, 8, seed + 500, scale)
    randomize_model(model, calibration, seed, gain or (1.0 if kind == "currents" else 2.0))
    x = make_input(kind, input_shape, timesteps, batch, seed, scale)
    y_torch, recorded = _record_modules(model, x)
    graph = trace(model, input_shape=input_shape, timesteps=timesteps)
    result = simulate(graph, x)

    modules = dict(model.named_modules())
    node_of: dict[str, ir.Op] = {}
    for node in graph.nodes:
        if node.origin in recorded:
            node_of[node.origin] = node  # the last node of a module holds its output
    check = Equivalence(graph)
    for origin, node in node_of.items():
        want, got = recorded[origin].numpy(), result[node.name]
        if isinstance(node, ir.Readout):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"readout {origin}")
            check.matched.add(origin)
            continue
        want = want.reshape(got.shape)  # modules inside TimeDistributed see [T·B, ...]
        if isinstance(modules[origin], neuron_types):
            mismatches = int(np.sum(want != got))
            assert mismatches == 0, f"{origin}: {mismatches} of {want.size} spike decisions differ"
            check.rates[origin] = _firing_rate(recorded[origin])
            check.neuron_outputs[origin] = got
        else:
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"module {origin}")
        check.matched.add(origin)
    neurons = {p for p, m in modules.items() if p and isinstance(m, neuron_types)}
    assert neurons, "the model has no neuron modules"
    assert neurons <= check.matched, f"neuron modules without an IR node: {sorted(neurons - check.matched)}"
    np.testing.assert_allclose(result.output, y_torch.numpy(), rtol=0, atol=1e-5)
    for path, rate in check.rates.items():
        assert min_rate <= rate <= max_rate, f"firing rate of {path} is {rate:.3f}: the test would be trivial"
    return check


@pytest.fixture
def equivalence() -> Callable[..., Equivalence]:
    """check_equivalence(build, input_shape, timesteps, kind, seed, ...): see its docstring."""
    return check_equivalence


@pytest.fixture
def random_input() -> Callable[..., torch.Tensor]:
    """make_input(kind, shape, timesteps, batch, seed, scale=1.0)."""
    return make_input


@pytest.fixture
def randomize() -> Callable[..., nn.Module]:
    """randomize_model(model, calibration, seed, gain=1.0)."""
    return randomize_model


# ---------------------------------------------------------------------------------------------------------
# Small hand-built IR graphs


def all_ops_graph(seed: int = 0) -> ir.Graph:
    """A valid graph that uses every IR op kind of the backbone, with delays, fan-in and random arrays."""
    rng = np.random.default_rng(seed)

    def r(*shape: int) -> np.ndarray:
        return rng.normal(size=shape)

    c = 4
    nodes: list[ir.Op] = [
        ir.Input("input", (), shape=(2, 6, 6)),
        ir.Conv2d("conv", ("input",), "features.0", weight=r(c, 2, 3, 3), bias=r(c), padding=(1, 1)),
        ir.BatchNorm("bn", ("conv",), "features.1", mean=r(c), var=rng.uniform(0.5, 2, c), weight=r(c),
                     bias=r(c), eps=1e-5, scale=0.5, eps_inside=False),
        ir.LIF("mlf", ("bn",), "features.2", decay=np.full((c, 6, 6), 0.25),
               threshold=np.stack([np.full((c, 6, 6), 0.6), np.full((c, 6, 6), 1.6)]), gain=r(c, 6, 6)),
        ir.MaxPool2d("maxpool", ("mlf",), "features.3", kernel=(3, 3), stride=(2, 2), padding=(1, 1)),
        ir.Pool2d("sumpool", ("conv",), "skip", mode="sum", kernel=(2, 2), stride=(2, 2)),
        ir.Add("add", (ir.Edge("maxpool"), ir.Edge("sumpool", 1)), "block.add"),
        ir.PSPNorm("psp", ("add",), "block.norm", moment2=rng.uniform(0.5, 2, c), weight=r(c), bias=r(c)),
        ir.MPBNLIF("mpbn", ("psp",), "block.lif", decay=np.full((c, 3, 3), 0.25), mean=r(c, 1, 1),
                   var=rng.uniform(0.5, 2, (c, 1, 1)), weight=r(c, 1, 1), bias=r(c, 1, 1), reset="subtract"),
        ir.Identity("drop", (ir.Edge("mpbn", 2),), "head.0", reason="dropout"),
        ir.Flatten("flat", ("drop",), "head.1"),
        ir.Dense("fc", ("flat",), "head.2", weight=r(10, 36), bias=None),
        ir.MPBNLIF("mpbn_el", ("fc",), "head.3", decay=np.full(10, 0.5), mean=r(10), var=np.ones(10),
                   weight=r(10), bias=r(10)),
        ir.LIF("s2nn", ("fc", "fc"), "head.4", decay=np.zeros(10), threshold=np.full((1, 10), 0.5),
               comparison=">=", reset="none"),
        ir.Readout("readout", ("s2nn", "mpbn_el"), "head.5", weight=r(3, 10), bias=r(3)),
    ]
    return ir.Graph(tuple(nodes), ("readout",), {"timesteps": 4})


@dataclass(frozen=True)
class GraphKit:
    """Hand-built test graphs, handed to tests by the `kit` fixture."""

    all_ops: Callable[..., ir.Graph] = all_ops_graph


@pytest.fixture
def kit() -> GraphKit:
    return GraphKit()
