"""End to end: traced snncompile.nn models through canonicalize → (fold-norm →) lower-mlf → lower-residual keep
every spike, and the lowered graph still reproduces the PyTorch model; folded per-neuron thresholds are made one
per layer by the Loihi quantizer."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
from helpers.lowering import Census, census_fixture, report
from torch import nn

from snncompile import ir
from snncompile import nn as snn
from snncompile.errors import CompileError
from snncompile.frontend import trace
from snncompile.passes import PASS_REGISTRY, Canonicalize, LowerMLF, LowerResidual, Pass, Pipeline
from snncompile.sim import simulate
from snncompile.targets.loihi import LoihiTarget
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.verification.compare import compare

_single_thread = census_fixture(Census("pipeline"))

TD = snn.TimeDistributed


def strip_norms(module: nn.Module) -> nn.Module:
    """Replace every norm module by nn.Identity (canonicalize then drops it): models fold-norm need not see."""
    for name, child in module.named_children():
        if isinstance(child, (snn.TDBatchNorm, snn.PSPNorm, nn.BatchNorm2d)):
            setattr(module, name, nn.Identity())
        else:
            strip_norms(child)
    return module


class DSNet(nn.Module):
    """Stem + MLF, two DS-ResNet blocks (identity and projection shortcut), pooled spike counts, readout."""

    def __init__(self, levels: tuple[float, ...] = (0.6, 1.6, 2.6)) -> None:
        super().__init__()
        self.stem, self.mlf = TD(nn.Conv2d(2, 4, 3, 1, 1)), snn.MLF(levels)
        self.block1 = snn.DSResBlock(4, 4, thresholds=levels)
        self.block2 = snn.DSResBlock(4, 6, stride=2, thresholds=levels)
        self.pool = TD(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = snn.Readout(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.block2(self.block1(self.mlf(self.stem(x))))))


class TdbnNet(nn.Module):
    """Spiking ResNet: LIF(current + input spikes) and LIF(current + projected current) blocks."""

    def __init__(self, reset: str = "zero") -> None:
        super().__init__()
        self.stem, self.lif = TD(nn.Conv2d(2, 4, 3, 1, 1)), snn.LIF(0.25, 0.5, reset)
        self.block1, self.block2 = snn.SpikingBasicBlock(4, 4), snn.SpikingBasicBlock(4, 6, stride=2)
        self.pool = TD(nn.AvgPool2d(2), nn.Flatten())
        self.head = snn.Readout(6 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.block2(self.block1(self.lif(self.stem(x))))))


class PreActNet(nn.Module):
    """Pre-activation stream of currents through two blocks, then a LIF and the readout."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = TD(nn.Conv2d(2, 4, 3, 1, 1))
        self.block1, self.block2 = snn.PreActBlock(4, 4), snn.PreActBlock(4, 6, stride=2)
        self.lif = snn.LIF(0.25, 0.5)
        self.pool = TD(nn.Flatten())
        self.head = snn.Readout(6 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.lif(self.block2(self.block1(self.stem(x))))))


class S2NNNet(nn.Module):
    """Single-step network (T = 1): S2NN neurons, a residual current add, a readout."""

    timesteps = 1

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.n1 = TD(nn.Linear(10, 16)), snn.S2NN(0.5)
        self.fc2, self.skip, self.n2 = TD(nn.Linear(16, 16)), TD(nn.Linear(10, 16)), snn.S2NN(0.8)
        self.head = snn.Readout(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.n2(self.fc2(self.n1(self.fc1(x))) + self.skip(x)))


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], int]] = {
    "ds_resnet": (DSNet, (2, 8, 8), 20),
    "ds_resnet_k2": (lambda: DSNet((0.5, 1.3)), (2, 8, 8), 20),
    "tdbn_resnet": (TdbnNet, (2, 8, 8), 20),
    "tdbn_resnet_soft": (lambda: TdbnNet("subtract"), (2, 8, 8), 20),
    "preact": (PreActNet, (2, 8, 8), 20),
    "s2nn": (S2NNNet, (10,), 1),
}


def lowering(fold: bool) -> tuple[Pass, ...]:
    fold_norm = (PASS_REGISTRY["fold-norm"](),) if fold else ()
    return (Canonicalize(), *fold_norm, LowerMLF(), LowerResidual())


def run_model(name: str, seed: int, fold: bool, randomize: Callable[..., nn.Module],
              random_input: Callable[..., torch.Tensor]) -> tuple[ir.Graph, ir.Graph, torch.Tensor, torch.Tensor]:
    build, shape, steps = MODELS[name]
    torch.manual_seed(seed)
    model = build() if fold else strip_norms(build())
    kind = "currents" if name == "s2nn" else "spikes"
    randomize(model, random_input(kind, shape, steps, 8, seed + 500), seed, 1.0 if kind == "currents" else 2.0)
    x = random_input(kind, shape, steps, 4 if steps > 1 else 64, seed)
    graph = trace(model, input_shape=shape, timesteps=steps)
    lowered, _ = Pipeline(lowering(fold)).run(graph)
    with torch.no_grad():
        y = model(x)
    return graph, lowered, x, y


def check_model(name: str, fold: bool, randomize: Callable[..., nn.Module],
                random_input: Callable[..., torch.Tensor]) -> tuple[int, int, int]:
    decisions = redrawn = spikes = 0
    for seed in range(5):
        graph, lowered, x, y = run_model(name, seed, fold, randomize, random_input)
        assert not lowered.of_kind(ir.Add) and all(n.levels == 1 for n in lowered.of_kind(ir.LIF))
        assert all(np.ptp(n.threshold) == 0 for n in lowered.of_kind(ir.LIF))
        assert lowered.metadata.get("timesteps") == graph.metadata.get("timesteps")
        result = compare(graph, lowered, x)
        if result.near_tie():
            redrawn += 1
            continue
        assert set(result.mismatches) == {n.name for n in graph.of_kind(ir.LIF, ir.MPBNLIF)}
        assert result.total_mismatches == 0, result.mismatches
        np.testing.assert_allclose(simulate(lowered, x).output, y.numpy(), rtol=0, atol=1e-9)
        decisions += sum(result.decisions.values())
        spikes += int(sum(np.count_nonzero(simulate(graph, x, record="neurons")[n]) for n in result.mismatches))
    assert decisions and spikes, "nothing compared"
    return decisions, redrawn, spikes


@pytest.mark.parametrize("name", sorted(MODELS))
def test_norm_free_models_keep_every_spike(name: str, randomize: Callable[..., nn.Module],
                                           random_input: Callable[..., torch.Tensor],
                                           request: pytest.FixtureRequest) -> None:
    decisions, redrawn, spikes = check_model(name, False, randomize, random_input)
    report(request, f"pipeline {name}: 0 mismatches in {decisions} spike decisions ({spikes} spikes), "
                    f"{redrawn} near-tie seeds skipped")


@pytest.mark.skipif("fold-norm" not in PASS_REGISTRY, reason="fold-norm is not available")
@pytest.mark.parametrize("name", ["ds_resnet", "tdbn_resnet", "preact"])
def test_models_with_norms_through_fold_norm(name: str, randomize: Callable[..., nn.Module],
                                             random_input: Callable[..., torch.Tensor],
                                             request: pytest.FixtureRequest) -> None:
    decisions, redrawn, spikes = check_model(name, True, randomize, random_input)
    report(request, f"pipeline with fold-norm {name}: 0 mismatches in {decisions} spike decisions "
                    f"({spikes} spikes), {redrawn} near-tie seeds skipped")


class MPBNNet(nn.Module):
    """conv → MPBN-LIF → conv (+ spike shortcut) → MPBN-LIF → pool → readout; fold-norm turns the membrane
    norms into per-channel (or per-neuron) thresholds, which the Loihi quantizer must make per-layer."""

    def __init__(self, elementwise: bool) -> None:
        super().__init__()
        self.conv1, self.n1 = TD(nn.Conv2d(2, 4, 3, 1, 1)), snn.MPBNLIF((4, 8, 8), elementwise)
        self.conv2, self.n2 = TD(nn.Conv2d(4, 4, 3, 1, 1)), snn.MPBNLIF((4, 8, 8), elementwise)
        self.pool, self.head = TD(nn.AvgPool2d(2), nn.Flatten()), snn.Readout(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.n1(self.conv1(x))
        return self.head(self.pool(self.n2(self.conv2(h) + h)))


def mpbn_case(seed: int, elementwise: bool, positive: bool, randomize: Callable[..., nn.Module],
              random_input: Callable[..., torch.Tensor]) -> tuple[ir.Graph, torch.Tensor]:
    torch.manual_seed(seed)
    model = MPBNNet(elementwise)
    randomize(model, random_input("spikes", (2, 8, 8), 20, 8, seed + 500), seed, 2.0)
    if positive:  # γ > 0 and μ ≥ 0: every folded threshold μ + (θ_n − β)·D/γ is positive
        with torch.no_grad():
            for m in (model.n1, model.n2):
                m.weight.abs_()
                m.running_mean.clamp_(min=0)
    return trace(model, input_shape=(2, 8, 8), timesteps=20), random_input("spikes", (2, 8, 8), 20, 4, seed)


@pytest.mark.skipif("fold-norm" not in PASS_REGISTRY, reason="fold-norm is not available")
@pytest.mark.parametrize("elementwise", [False, True])
def test_mpbn_thresholds_become_per_layer(elementwise: bool, randomize: Callable[..., nn.Module],
                                          random_input: Callable[..., torch.Tensor]) -> None:
    fold = (Canonicalize(), PASS_REGISTRY["fold-norm"](), LowerMLF(), LowerResidual())
    for seed in range(5):
        graph, x = mpbn_case(seed, elementwise, True, randomize, random_input)
        folded, _ = Pipeline(fold).run(graph)
        assert any(np.ptp(n.threshold) > 0 for n in folded.of_kind(ir.LIF))
        result = compare(graph, folded, x)
        assert result.near_tie() or result.total_mismatches == 0
        loihi = LoihiTarget().pipeline()
        if elementwise:  # per-neuron thresholds under a shared conv kernel: no row scale can carry them
            with pytest.raises(CompileError) as info:
                loihi.run(graph)
            assert "SNC612" in info.value.codes
            continue
        quantized, _ = loihi.run(graph)
        assert {n.kind for n in quantized.of_kind(LoihiLIF)} == {"loihi_lif"}  # one integer threshold each


@pytest.mark.skipif("fold-norm" not in PASS_REGISTRY, reason="fold-norm is not available")
def test_mpbn_firing_at_rest_is_a_diagnostic_with_numbers(randomize: Callable[..., nn.Module],
                                                          random_input: Callable[..., torch.Tensor]) -> None:
    """Mixed-sign γ gives folded thresholds ≤ 0 (neurons that fire without input): the float graph keeps them
    (SNC504 warning), Loihi refuses every such layer (SNC613) with the smallest threshold."""
    graph, _ = mpbn_case(0, False, False, randomize, random_input)
    Pipeline(lowering(True)).run(graph)
    with pytest.raises(CompileError) as info:
        LoihiTarget().pipeline().run(graph)
    thresholds = [d for d in info.value.diagnostics if d.code == "SNC613"]
    assert len(thresholds) == 2
    assert all(re.search(r"min -\d", d.message) for d in thresholds)
