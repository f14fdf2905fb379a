"""Calibration-driven scales for approximate layers: the threshold scale and offset with the fewest spike
disagreements with the float layer on the calibration data (docs/LOIHI.md §4.3).

Teacher forcing: every layer reads the float model's own spikes (and the encoded input) on the calibration
data, so each layer is judged alone and the search is one pass per layer. Candidates are the integer scales
vth = ⌊vth_max · 2^(−k/8)⌋, k = 0..4, and ⌊vth_max · 2^(k/4)⌋, k = 1..4, up to every bound except the
weights' one (the largest weights then clip at ±254: a finer step for all the others), each with a threshold
offset δ ∈ {−2..2} (vThMant = vth + δ: it corrects a systematic bias of the rounded weights). Every candidate
keeps the 17-bit, bias and no-wrap bounds, so the overflow guarantees and the scale ledger hold unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from snncompile import ir
from snncompile.sim.interpreter import simulate
from snncompile.targets.loihi.encoding import InputEncoding
from snncompile.targets.loihi.layer_quant import LayerQuant, MemberPlan
from snncompile.targets.loihi.numerics import LOIHI_OPS, lif_kernel
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.targets.loihi.overflow import unpipelined

SCALE_STEPS = 5
OFFSETS = (0, -1, 1, -2, 2)
SAMPLES = 256
"""Calibration samples the search runs on (the first ones)."""

Build = Callable[[int], tuple[LayerQuant, int]]
"""vth → the layer's integers and its base vThMant (vth, or vth − 1 for ≥ on the 64-grid)."""


@dataclass
class Choice:
    vth: int
    offset: int
    mismatches: int
    baseline: int
    decisions: int


class FloatActivity:
    """The unpipelined float graph run once on the calibration data, every node recorded."""

    def __init__(self, graph: ir.Graph, calibration: np.ndarray, enc: InputEncoding, inp: str) -> None:
        self.graph = unpipelined(graph)
        self.x = np.asarray(calibration)[:, :SAMPLES]
        self.result = simulate(self.graph, self.x)
        self.enc, self.inp = enc, inp
        self.batch = int(self.x.shape[1])

    def synapse_input(self, syn: ir.Op) -> torch.Tensor:
        """What the integer synapse reads: the float spikes of its source, or the encoded input payloads."""
        src = syn.inputs[0].src
        node = self.graph.node(src)
        value = np.asarray(self.result[src])
        reads_input = src == self.inp or (isinstance(node, ir.Flatten) and node.inputs[0].src == self.inp)
        return torch.from_numpy(self.enc.encode(value) if reads_input else value.astype(np.float64))

    def spikes(self, pop: str) -> np.ndarray:
        return np.asarray(self.result[pop])


def _drives(activity: FloatActivity, plans: list[MemberPlan], q: LayerQuant) -> dict[str, np.ndarray]:
    """A[t] per member (integer synaptic sums, [T, B·N]) from the float inputs."""
    from snncompile.targets.loihi.quantize import _integer_synapse

    drives = {}
    for p in plans:
        total = None
        for s, w_int in zip(p.inputs, q.weights[p.pop.name], strict=True):
            op = _integer_synapse(s.synapse, s.synapse.name, w_int)
            a = LOIHI_OPS[type(op)](op, [activity.synapse_input(s.synapse)])
            total = a if total is None else total + a
        assert total is not None
        drives[p.pop.name] = total.reshape(total.shape[0], -1).numpy()
    return drives


def _mismatches(activity: FloatActivity, plans: list[MemberPlan], q: LayerQuant, drives: dict[str, np.ndarray],
                threshold: int) -> int:
    count = 0
    for p in plans:
        shape = np.shape(activity.spikes(p.pop.name))[2:]
        bias = q.biases[p.pop.name]
        op = LoihiLIF(p.pop.name, (), p.pop.origin, threshold=threshold, i_decay=q.i_decay, v_decay=q.v_decay,
                      bias=bias, scale=np.ones(shape))
        got = lif_kernel(drives[p.pop.name], op, batch=activity.batch)
        count += int(np.count_nonzero(got.reshape(activity.spikes(p.pop.name).shape) != activity.spikes(p.pop.name)))
    return count


def candidates(vth_max: int, vth_cap: float) -> list[int]:
    """Scales below the rounding heuristic's vth_max, and above it up to the bounds other than the weights'
    (`vth_cap`: the largest weights then clip at ±top), largest first after vth_max itself."""
    down = {max(1, int(np.floor(vth_max * 2 ** (-k / 8)))) for k in range(SCALE_STEPS)}
    up = {int(np.floor(vth_max * 2 ** (k / 4))) for k in range(1, SCALE_STEPS)}
    return [vth_max, *sorted((down | {v for v in up if v <= vth_cap}) - {vth_max}, reverse=True)]


def choose_scale(activity: FloatActivity, plans: list[MemberPlan], vth_max: int, vth_cap: float,
                 build: Build) -> Choice:
    """The (vth, offset) with the fewest teacher-forced disagreements on the calibration data. A candidate
    replaces the heuristic's (vth_max, 0) only when it saves more than twice the counting noise (2·√n of
    the heuristic's n mismatches): smaller gains are not told apart from the sample."""
    decisions = sum(int(np.size(activity.spikes(p.pop.name))) for p in plans)
    best: Choice | None = None
    for vth in candidates(vth_max, vth_cap):
        q, base = build(vth)
        if any(not np.any(w) for ws in q.weights.values() for w in ws):
            continue  # a synapse rounded away entirely (SNC614 at this scale)
        drives = _drives(activity, plans, q)
        for offset in OFFSETS:
            if base + offset < 0:
                continue
            n = _mismatches(activity, plans, q, drives, base + offset)
            if best is None:
                best = Choice(vth, offset, n, n, decisions)
            elif n < best.mismatches and n < best.baseline - 2 * np.sqrt(best.baseline):
                best = Choice(vth, offset, n, best.baseline, decisions)
    return best if best is not None else Choice(vth_max, 0, 0, 0, decisions)
