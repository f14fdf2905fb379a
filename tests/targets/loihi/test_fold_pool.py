"""loihi-fold-pool: average/sum pooling folded into the conv or dense synapse that reads it gives the same spikes."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.passes import PassContext, Pipeline
from snncompile.targets.loihi import LOIHI, testnets
from snncompile.targets.loihi.fold_pool import LoihiFoldPool
from snncompile.targets.loihi.testnets import Builder
from snncompile.verification.compare import compare


def fold(graph: ir.Graph) -> ir.Graph:
    return Pipeline((LoihiFoldPool(),)).run(graph, PassContext())[0]


def pooled_net(mode: str, k: int, conv_padding: int, size: int = 8) -> ir.Graph:
    b = Builder((2, size, size), seed=11, timesteps=6)
    x = b.lif("a", [b.conv("a.conv", "input", 4, 3, gain=2.0, bias=0.2)])
    y = b.lif("b", [b.conv("b.conv", b.pool("p", x, k, mode), 5, 3, padding=(conv_padding, conv_padding),
                           gain=2.5, bias=0.1)], theta=0.4)
    z = b.lif("c", [b.dense("c.fc", b.pool("gap", y, 2, mode), 7, gain=3.0)], theta=0.3)
    return b.readout(z)


def spike_input(graph: ir.Graph, seed: int = 0) -> np.ndarray:
    (inp,) = graph.of_kind(ir.Input)
    return np.random.default_rng(seed).random((graph.timesteps, 8, *inp.shape))


@pytest.mark.parametrize(("mode", "k", "padding", "size"), [("avg", 2, 1, 8), ("sum", 2, 0, 8), ("avg", 2, 0, 9),
                                                           ("avg", 3, 1, 9)])
def test_folded_pooling_gives_the_same_spikes(mode: str, k: int, padding: int, size: int) -> None:
    graph = pooled_net(mode, k, padding, size)
    folded = fold(graph)
    assert not folded.of_kind(ir.Pool2d)
    for seed in range(3):
        result = compare(graph, folded, spike_input(graph, seed))
        assert result.total_mismatches == 0 or result.near_tie(), result.mismatches
        assert sum(result.decisions.values()) > 0


def test_the_folded_conv_has_the_composed_geometry() -> None:
    conv = fold(pooled_net("avg", 2, 1)).node("b.conv")
    assert isinstance(conv, ir.Conv2d)
    assert (conv.stride, conv.padding, conv.weight.shape[2:]) == ((2, 2), (2, 2), (6, 6))


def test_a_pooling_that_cannot_be_folded_exactly_stays_and_loihi_refuses_it() -> None:
    b = Builder((2, 9, 9), seed=1, timesteps=4)
    x = b.lif("a", [b.conv("a.conv", "input", 4, 3, gain=2.0)])
    pool = b._add(ir.Pool2d("p", (ir.Edge(x),), "p", mode="avg", kernel=(3, 3), stride=(2, 2)), (4, 4, 4))
    graph = b.readout(b.lif("b", [b.conv("b.conv", pool, 4, 3, gain=2.0)]))  # overlapping windows, padded conv
    assert fold(graph).of_kind(ir.Pool2d)
    with pytest.raises(CompileError) as exc:
        compiled = LOIHI.pipeline().run(graph, PassContext())[0]
        raise CompileError([d for rule in LOIHI.rules() for d in rule(compiled)])
    assert "SNC601" in str(exc.value)


def test_the_lava_test_net_with_a_pooled_head_folds_both_poolings() -> None:
    graph = testnets.shortcut_pool_net()
    assert len(graph.of_kind(ir.Pool2d)) == 2 and not fold(graph).of_kind(ir.Pool2d)
