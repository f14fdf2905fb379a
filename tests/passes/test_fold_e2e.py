"""fold-norm end to end: snncompile.nn models with random statistics, traced, folded, simulated: same spikes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from snncompile import ir
from snncompile import nn as snn
from snncompile.api import load
from snncompile.frontend import trace
from snncompile.passes import Canonicalize, FoldNorm, PassContext, Pipeline
from snncompile.verification.compare import compare

TD = snn.TimeDistributed
T, SHAPE = 20, (2, 8, 8)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def resnet() -> nn.Module:
    """tdBN (ε outside) + channel-wise MPBN stem, two spiking basic blocks (identity and projection
    shortcut), a pre-activation block on spikes, PSP-norm head."""
    return nn.Sequential(
        TD(nn.Conv2d(2, 4, 3, 1, 1)), snn.TDBatchNorm(4, eps_inside=False), snn.MPBNLIF((4, 8, 8)),
        snn.SpikingBasicBlock(4, 4), snn.SpikingBasicBlock(4, 6, stride=2), snn.PreActBlock(6, 6),
        snn.PSPNorm(6), snn.LIF(), TD(nn.AdaptiveAvgPool2d(1), nn.Flatten()), snn.Readout(6, 3))


def mpbn_cnn() -> nn.Module:
    """BN2d + channel- and element-wise MPBN, maxpool, linear + BN1d + rank-1 MPBN, DS-ResNet block (MLF)."""
    return nn.Sequential(
        TD(nn.Conv2d(2, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4)), snn.MPBNLIF((4, 8, 8)),
        TD(nn.Conv2d(4, 4, 3, 1, 1), nn.BatchNorm2d(4)), snn.MPBNLIF((4, 8, 8), elementwise=True),
        TD(nn.MaxPool2d(2)), snn.DSResBlock(4, 4), TD(nn.Flatten()), nn.Linear(64, 10),
        TD(nn.BatchNorm1d(10)), snn.MPBNLIF(10, elementwise=True), snn.Readout(10, 3))


def preact_stream() -> nn.Module:
    """Pre-activation stem and stream of three blocks (currents), PSP-norm with bias inside: many copies."""
    return nn.Sequential(
        TD(nn.Conv2d(2, 4, 3, 1, 1, bias=False)), snn.PreActBlock(4, 4), snn.PreActBlock(4, 4),
        snn.PreActBlock(4, 6, stride=2), snn.PSPNorm(6), snn.LIF(), TD(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        snn.Readout(6, 3))


def zero_some_gammas(model: nn.Module, seed: int) -> None:
    """γ = 0 on one random channel (or neuron) of every MPBN and tdBN: constant neurons / constant currents."""
    gen = np.random.default_rng(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (snn.MPBNLIF, snn.TDBatchNorm)):
                m.weight.view(-1)[int(gen.integers(m.weight.numel()))] = 0.0


MODELS: dict[str, Callable[[], nn.Module]] = {"resnet": resnet, "mpbn-cnn": mpbn_cnn, "preact": preact_stream}


@pytest.mark.parametrize("kind", ["currents", "spikes"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_traced_model_folds_exactly(name: str, kind: str, randomize: Callable[..., nn.Module],
                                    random_input: Callable[..., torch.Tensor],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    redrawn, decisions = 0, 0
    for seed in range(3):
        for attempt in range(10):
            draw = 100 * seed + attempt
            torch.manual_seed(draw)
            model = MODELS[name]()
            randomize(model, random_input(kind, SHAPE, T, 8, draw + 500), draw, 1.0 if kind == "currents" else 2.0)
            zero_some_gammas(model, draw)
            graph = trace(model, input_shape=SHAPE, timesteps=T)
            folded, records = Pipeline((Canonicalize(), FoldNorm())).run(graph, PassContext())
            result = compare(graph, folded, random_input(kind, SHAPE, T, 3, draw))
            if not result.near_tie():
                break
            redrawn += 1
        assert result.total_mismatches == 0, result.mismatches
        assert result.readout_error < 1e-9
        assert not folded.of_kind(ir.BatchNorm, ir.PSPNorm, ir.MPBNLIF)
        decisions += sum(result.decisions.values())
    with capsys.disabled():
        print(f"\n{name}/{kind}: 0 mismatches in {decisions} spike decisions over 3 models, {redrawn} re-drawn; "
              f"{records[1].stats}")


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"


@pytest.mark.parametrize("name", ["tdbn_resnet", "mlf_dsresnet", "mpbn_cnn", "psp_preact_resnet", "s2nn_mlp"])
def test_shipped_example_models_fold_exactly(name: str) -> None:
    path = EXAMPLES / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"{path} not built")
    graph = trace(load(path, trust_pickle=True))
    folded, _ = Pipeline((Canonicalize(), FoldNorm())).run(graph, PassContext())
    images = np.random.default_rng(0).random((1, 4, *graph.node("input").shape))
    result = compare(graph, folded, np.repeat(images, T, axis=0))  # direct encoding, T = 20 steps
    assert not result.near_tie() and result.total_mismatches == 0, result
    assert result.readout_error < 1e-9
