"""Differential testing helpers: run two graphs on the same input and count spike mismatches."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from snncompile import ir
from snncompile.ir.traits import float_neurons
from snncompile.passes.lower_mlf import level_name
from snncompile.sim.float_ops import MARGINS
from snncompile.sim.interpreter import SimResult, simulate


@dataclass(frozen=True)
class Comparison:
    """Spike decisions that differ per compared node, and the smallest relative threshold margin seen."""

    mismatches: dict[str, int]
    decisions: dict[str, int]
    margin: float
    readout_error: float

    @property
    def total_mismatches(self) -> int:
        return sum(self.mismatches.values())

    def near_tie(self, tolerance: float = 1e-9) -> bool:
        """True when some decision was within float rounding of its threshold: a fair test re-draws."""
        return self.margin < tolerance


def simulate_with_margin(graph: ir.Graph, x: np.ndarray | torch.Tensor,
                         record: str | Collection[str] = "all") -> tuple[SimResult, float]:
    margins: dict[str, float] = {}
    token = MARGINS.set(margins)
    try:
        result = simulate(graph, x, record=record)
    finally:
        MARGINS.reset(token)
    return result, min(margins.values(), default=float("inf"))


def lowered_levels(before: ir.Graph, after: ir.Graph, name: str) -> tuple[str, ...] | None:
    """Names in `after` of the binary level populations that lower-mlf made of the K-level LIF `name`."""
    node = before.node(name)
    if not isinstance(node, ir.LIF) or node.levels < 2:
        return None
    names = tuple(level_name(name, k) for k in range(node.levels))
    return names if all(n in after for n in names) else None


def default_pairs(before: ir.Graph, after: ir.Graph) -> list[tuple[str, str | tuple[str, ...]]]:
    """Every neuron node of `before` with the node of the same name in `after`, or else with the sum of
    its lowered level populations (MLF after lower-mlf and lower-residual); others are skipped."""
    pairs: list[tuple[str, str | tuple[str, ...]]] = []
    for n in float_neurons(before):
        levels = None if n.name in after else lowered_levels(before, after, n.name)
        if n.name in after or levels:
            pairs.append((n.name, n.name if levels is None else levels))
    return pairs


def pair_values(result: SimResult, names: str | Sequence[str]) -> np.ndarray:
    if isinstance(names, str):
        return result[names]
    total = result[names[0]]
    for name in names[1:]:
        total = total + result[name]
    return total


def compare(before: ir.Graph, after: ir.Graph, x: np.ndarray | torch.Tensor,
            nodes: Iterable[tuple[str, str | Sequence[str]]] | None = None) -> Comparison:
    """Simulate both graphs on `x`; compare neuron outputs of node pairs (before_name, after_name), where
    after_name may be several names whose outputs are summed (the levels of a lowered MLF population).

    By default every neuron node of `before` is compared with the node of the same name in `after`, or
    with its lowered levels `name.level{k}` (see default_pairs; nodes missing there are skipped), plus
    the outputs. The margin is the minimum over both runs."""
    nodes = default_pairs(before, after) if nodes is None else list(nodes)
    names_b = [n for _, b in nodes for n in ((b,) if isinstance(b, str) else b)]
    res_a, margin_a = simulate_with_margin(before, x, record=[a for a, _ in nodes])
    res_b, margin_b = simulate_with_margin(after, x, record=names_b)
    mismatches, decisions = {}, {}
    for a, b in nodes:
        sa, sb = res_a[a], pair_values(res_b, b)
        mismatches[a] = int(np.sum(sa != sb))
        decisions[a] = int(sa.size)
    readout_error = 0.0
    for out_a, out_b in zip(before.outputs, after.outputs, strict=False):
        if isinstance(before.node(out_a), ir.Readout):
            readout_error = max(readout_error, float(np.max(np.abs(res_a[out_a] - res_b[out_b]))))
    return Comparison(mismatches, decisions, min(margin_a, margin_b), readout_error)
