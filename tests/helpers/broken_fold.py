"""Deliberately wrong folds for the verification tests: FoldNorm followed by a change to its output graph."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from snncompile import ir
from snncompile.passes.fold_norm import FoldNorm


def break_fold_norm(monkeypatch: pytest.MonkeyPatch, change: Callable[[ir.Graph], ir.Graph]) -> None:
    """FoldNorm.run returns `change` applied to what it computed (undone when the test ends)."""
    original = FoldNorm.run
    monkeypatch.setattr(FoldNorm, "run", lambda self, graph, ctx: change(original(self, graph, ctx)))


def flip_first_conv_channel(graph: ir.Graph) -> ir.Graph:
    """The sign error: channel 0's folded scale applied as −a instead of a, in the first conv."""
    conv = graph.of_kind(ir.Conv2d)[0]
    weight = np.array(conv.weight)
    weight[0] = -weight[0]
    return graph.with_nodes([conv.replace(weight=weight) if n is conv else n for n in graph.nodes])


def negate_first_conv(graph: ir.Graph) -> ir.Graph:
    """Every weight of the first conv with the wrong sign."""
    conv = graph.of_kind(ir.Conv2d)[0]
    return graph.with_nodes([n.replace(weight=-conv.weight) if n is conv else n for n in graph.nodes])


def shift_readout_bias(delta: float) -> Callable[[ir.Graph], ir.Graph]:
    """The readout's bias moved by `delta`."""
    def change(graph: ir.Graph) -> ir.Graph:
        return graph.with_nodes([n.replace(bias=n.bias + delta) if isinstance(n, ir.Readout) else n
                                 for n in graph.nodes])
    return change
