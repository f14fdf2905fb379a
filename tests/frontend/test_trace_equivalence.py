"""Traced IR in the float simulator reproduces the PyTorch forward: same spikes at every layer and step."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from torch import nn

from snncompile import ir
from snncompile import nn as snn

TD = snn.TimeDistributed
KINDS = ("currents", "spikes")
SEEDS = (0, 1)
T = 8
IMAGE = (2, 5, 5)


def conv(c_in: int = 2, c_out: int = 3) -> TD:
    return TD(nn.Conv2d(c_in, c_out, 3, 1, 1))


# Every layer of snncompile.nn, each in a small model that makes it observable: (build, input shape, T).
LAYERS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], int]] = {
    "lif-zero": (lambda: nn.Sequential(conv(), snn.LIF()), IMAGE, T),
    "lif-subtract": (lambda: nn.Sequential(conv(), snn.LIF(decay=0.9, v_th=0.3, reset="subtract")), IMAGE, T),
    "lif-direct": (lambda: nn.Sequential(snn.LIF(decay=0.5, v_th=0.7)), (6,), T),
    "mlf-3": (lambda: nn.Sequential(conv(), snn.MLF()), IMAGE, T),
    "mlf-2": (lambda: nn.Sequential(conv(), snn.MLF((0.6, 1.6))), IMAGE, T),
    "mlf-4": (lambda: nn.Sequential(conv(), snn.MLF((0.3, 0.9, 1.5, 2.1), decay=0.5)), IMAGE, T),
    "s2nn-T8": (lambda: nn.Sequential(conv(), snn.S2NN(v_th=0.4)), IMAGE, T),
    "s2nn-T1": (lambda: nn.Sequential(conv(), snn.S2NN(v_th=0.4)), IMAGE, 1),
    "tdbn-eps-inside": (lambda: nn.Sequential(
        conv(), snn.TDBatchNorm(3, 1.0, 0.5, eps=0.05, eps_inside=True), snn.LIF()), IMAGE, T),
    "tdbn-eps-outside": (lambda: nn.Sequential(
        conv(), snn.TDBatchNorm(3, 1 / math.sqrt(2), 0.6, eps=0.05, eps_inside=False), snn.LIF(v_th=0.6)),
        IMAGE, T),
    "mpbn-channel": (lambda: nn.Sequential(conv(), snn.MPBNLIF((3, 5, 5))), IMAGE, T),
    "mpbn-element": (lambda: nn.Sequential(conv(), snn.MPBNLIF((3, 5, 5), elementwise=True)), IMAGE, T),
    "mpbn-subtract": (lambda: nn.Sequential(
        conv(), snn.MPBNLIF((3, 5, 5), decay=0.5, reset="subtract", v_th=0.8, fire_level=0.3)), IMAGE, T),
    "mpbn-features": (lambda: nn.Sequential(
        TD(nn.Flatten(), nn.Linear(50, 7)), snn.MPBNLIF(7), TD(nn.Linear(7, 5)),
        snn.MPBNLIF(5, elementwise=True)), IMAGE, T),
    "pspnorm": (lambda: nn.Sequential(conv(), snn.PSPNorm(3), snn.LIF()), IMAGE, T),
    "pspnorm-bias": (lambda: nn.Sequential(conv(), snn.PSPNorm(3, affine_bias=True), snn.LIF()), IMAGE, T),
    "time-distributed": (lambda: nn.Sequential(
        TD(nn.Conv2d(2, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Identity()),
        snn.LIF(),
        TD(nn.MaxPool2d(2, 1), nn.AvgPool2d(2, 1, padding=1), nn.Conv2d(4, 3, (2, 3), (1, 2), (0, 1), (2, 1)),
           nn.AdaptiveAvgPool2d((1, 3)), nn.Flatten(), nn.Linear(9, 6), nn.BatchNorm1d(6)),
        snn.LIF(), nn.Linear(6, 5), snn.S2NN(0.3)), IMAGE, T),
    "conv-options": (lambda: nn.Sequential(
        TD(nn.Conv2d(2, 4, 3, padding="same"), nn.Conv2d(4, 4, (3, 1), padding="valid", groups=2),
           nn.Conv2d(4, 4, 3, stride=2, padding=(1, 0), dilation=(1, 2), bias=False, groups=4)),
        snn.LIF()), IMAGE, T),
    "readout": (lambda: nn.Sequential(TD(nn.Flatten()), nn.Linear(50, 8), snn.LIF(), snn.Readout(8, 4)), IMAGE, T),
    "basic-block": (lambda: nn.Sequential(conv(), snn.TDBatchNorm(3), snn.LIF(), snn.SpikingBasicBlock(3, 3)),
                    IMAGE, T),
    "basic-block-shortcut": (lambda: nn.Sequential(
        conv(), snn.TDBatchNorm(3), snn.LIF(), snn.SpikingBasicBlock(3, 4, stride=2, eps_inside=False)), IMAGE, T),
    "preact-block": (lambda: nn.Sequential(conv(), snn.PreActBlock(3, 3), snn.PSPNorm(3), snn.LIF()), IMAGE, T),
    "preact-block-shortcut": (lambda: nn.Sequential(
        conv(), snn.PreActBlock(3, 4, stride=2), snn.PSPNorm(4), snn.LIF()), IMAGE, T),
    "ds-block": (lambda: nn.Sequential(
        conv(), snn.TDBatchNorm(3, v_th=0.6, eps_inside=False), snn.MLF(), snn.DSResBlock(3, 3)), IMAGE, T),
    "ds-block-shortcut": (lambda: nn.Sequential(
        conv(), snn.TDBatchNorm(3, v_th=0.6, eps_inside=False), snn.MLF(), snn.DSResBlock(3, 4, stride=2)),
        IMAGE, T),
}


def tdbn_resnet(c: int = 4) -> nn.Module:
    return nn.Sequential(
        TD(nn.Conv2d(1, c, 3, 1, 1, bias=False)), snn.TDBatchNorm(c), snn.LIF(),
        snn.SpikingBasicBlock(c, c), snn.SpikingBasicBlock(c, 2 * c, stride=2),
        TD(nn.AdaptiveAvgPool2d(1), nn.Flatten()), snn.Readout(2 * c, 3))


def mpbn_cnn() -> nn.Module:
    def conv_bn(c_in: int, c_out: int) -> TD:
        return TD(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
    return nn.Sequential(
        conv_bn(1, 4), snn.MPBNLIF((4, 8, 8)),
        conv_bn(4, 4), snn.MPBNLIF((4, 8, 8), elementwise=True), TD(nn.MaxPool2d(2)),
        conv_bn(4, 6), snn.MPBNLIF((6, 4, 4)), TD(nn.MaxPool2d(2), nn.Flatten()),
        nn.Linear(24, 10), snn.MPBNLIF(10, elementwise=True), snn.Readout(10, 3))


def psp_preact_resnet() -> nn.Module:
    return nn.Sequential(
        TD(nn.Conv2d(1, 4, 3, 1, 1, bias=False)), snn.PreActBlock(4, 4), snn.PreActBlock(4, 6, stride=2),
        snn.PreActBlock(6, 6), snn.PSPNorm(6), snn.LIF(), TD(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        snn.Readout(6, 3))


def mlf_dsresnet() -> nn.Module:
    return nn.Sequential(
        TD(nn.Conv2d(1, 4, 3, 1, 1, bias=False)), snn.TDBatchNorm(4, v_th=0.6, eps_inside=False), snn.MLF(),
        snn.DSResBlock(4, 4), snn.DSResBlock(4, 6, stride=2),
        TD(nn.AdaptiveAvgPool2d(1), nn.Flatten()), snn.Readout(6, 3))


def s2nn_mlp() -> nn.Module:
    return nn.Sequential(
        TD(nn.Flatten()), nn.Linear(64, 16), TD(nn.BatchNorm1d(16)), snn.S2NN(),
        nn.Linear(16, 16), TD(nn.BatchNorm1d(16)), snn.S2NN(), snn.Readout(16, 3))


NETWORKS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "tdbn-resnet": (tdbn_resnet, T),
    "mpbn-cnn": (mpbn_cnn, T),
    "psp-preact-resnet": (psp_preact_resnet, T),
    "mlf-dsresnet": (mlf_dsresnet, T),
    "s2nn-mlp": (s2nn_mlp, 1),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_matches_torch(layer: str, kind: str, seed: int, equivalence: Callable[..., object]) -> None:
    build, shape, steps = LAYERS[layer]
    equivalence(build, shape, steps, kind, seed, batch=4)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_network_matches_torch(network: str, kind: str, seed: int, equivalence: Callable[..., object]) -> None:
    build, steps = NETWORKS[network]
    equivalence(build, (1, 8, 8), steps, kind, seed, batch=3 if steps > 1 else 16)


def test_every_nn_layer_is_covered() -> None:
    """A new layer in snncompile.nn must get an equivalence case here."""
    covered: set[type] = set()
    for build, _, _ in LAYERS.values():
        covered |= {type(m) for m in build().modules()}
    public = {obj for name in snn.__all__ if isinstance(obj := getattr(snn, name), type)}
    assert public <= covered, f"layers without an equivalence test: {sorted(c.__name__ for c in public - covered)}"


def test_mlf_levels_all_fire(equivalence: Callable[..., object]) -> None:
    """Strong drive reaches every MLF level, so the count output really takes the values 0..3."""
    build, shape, steps = LAYERS["mlf-3"]
    check = equivalence(build, shape, steps, "currents", 3, batch=4, scale=2.5)
    counts = np.unique(check.neuron_outputs["1"])  # type: ignore[attr-defined]
    assert set(counts.tolist()) == {0.0, 1.0, 2.0, 3.0}


def test_traced_network_nodes(equivalence: Callable[..., object]) -> None:
    """The MLF DS-ResNet traces to binary/multi-level LIF nodes, batchnorms and adds, with module origins."""
    check = equivalence(mlf_dsresnet, (1, 8, 8), T, "currents", 0)
    graph: ir.Graph = check.graph  # type: ignore[attr-defined]
    kinds = [n.kind for n in graph.nodes]
    assert kinds.count("add") == 2 and kinds.count("readout") == 1
    lifs = graph.of_kind(ir.LIF)
    assert {n.levels for n in lifs} == {3}
    assert {n.origin for n in lifs} == {"2", "3.mlf1", "3.mlf2", "4.mlf1", "4.mlf2", "4.shortcut.2"}
