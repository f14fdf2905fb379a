"""Shared helpers of the papers' tests: trained-looking BN statistics and the layer-by-layer exactness check."""

from __future__ import annotations

import torch
from torch import nn

import snncompile
from snncompile.ir.traits import float_neurons
from snncompile.verification.check import CheckReport, check_compile, random_input


def randomize_norms(model: nn.Module, seed: int = 0, bias: tuple[float, float] = (-0.2, 0.5)) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=gen) * (bias[1] - bias[0]) + bias[0])
    return model.eval()


def exact_check(model: nn.Module, input_shape: tuple[int, ...], batch: int = 8, **kwargs: object
                ) -> tuple[snncompile.CompileResult, CheckReport]:
    """Compile for sim and compare PyTorch vs float IR vs compiled IR at every neuron layer and timestep."""
    result = snncompile.compile(model, "sim", input_shape=input_shape, **kwargs)  # type: ignore[arg-type]
    x = random_input(result.traced, batch=batch)
    report = check_compile(model, result.traced, result.graph, x)
    spikes = snncompile.simulate(result.traced, x, dtype=torch.float32)
    for n in float_neurons(result.traced):
        counts = spikes[n.name]
        assert counts.max() > counts.min(), f"{n.name} always emits {counts.min()}: the check would be vacuous"
    return result, report


def assert_exact(report: CheckReport, layers: int) -> None:
    assert len(report.layers) == layers
    for row in report.layers:
        assert row.model_vs_traced == 0, row
        assert row.traced_vs_compiled == 0, row
        assert row.decisions > 0
    assert report.exact
