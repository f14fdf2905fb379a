"""Forward folding: absorb a per-channel affine y = a·x + b into the ops that consume y."""

from __future__ import annotations

import numpy as np

from snncompile import ir
from snncompile.ir.traits import PassThrough, Pooling
from snncompile.passes.fold_affine import PADDED_CONV, Affine, NotFoldable, full, per_channel
from snncompile.passes.fold_plan import Plan


class Forwarder:
    """Removes a norm y = a·x + b by rewriting every reader of y to read x (a, b as full-shape arrays):

        dense / readout:  W'[o, i] = W[o, i]·a_i,  bias' = bias + W·b
        conv2d:           W'[o, c, ·] = W[o, c, ·]·a_c,  bias'_o = bias_o + Σ_{c,k} W[o, c, k]·b_c
                          (exact without padding, or with zero padding when b = 0: a·0 = 0 in the pad)
        LIF:              gain' = gain·a when b = 0 (the neuron has no bias to hold b)
        identity, flatten, pool2d, maxpool2d (a ≥ 0): read x and pass (a, b) on to their own readers

    A reader with several inputs (fan-in, add) is refused: a and b belong to one operand only. With
    b ≠ 0 no delayed edge may lie between the norm and the op that holds b.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def fold(self, norm: ir.Op, aff: Affine) -> None:
        graph = self.plan.graph
        if norm.name in graph.outputs:
            raise NotFoldable(f"%{norm.name} is a graph output, so its readers cannot take it over")
        shape = graph.shapes[norm.name]
        self._readers(norm.name, norm.inputs[0], full(aff.scale, shape), full(aff.bias, shape))
        self.plan.remove(norm.name, norm.inputs[0])

    def _readers(self, src: str, replacement: ir.Edge, a: np.ndarray, b: np.ndarray) -> None:
        readers = {n.name: n for n in self.plan.graph.consumers(src)}
        if not readers:
            raise NotFoldable(f"%{src} has no readers to take the norm")
        for node in readers.values():
            self._reader(node, src, replacement, a, b)

    def _reader(self, node: ir.Op, src: str, replacement: ir.Edge, a: np.ndarray, b: np.ndarray) -> None:
        if np.any(b != 0) and any(e.delay for e in node.inputs if e.src == src):
            raise NotFoldable(f"%{node.name} reads the norm through a delayed edge; its first steps would "
                              "see 0, not b")
        inputs = tuple(ir.Edge(replacement.src, replacement.delay + e.delay) if e.src == src else e
                       for e in node.inputs)
        if isinstance(node, (PassThrough, Pooling)):
            self._through(node, inputs, a, b)
            return
        if len(node.inputs) != 1:
            raise NotFoldable(f"{node.kind} %{node.name} sums {len(node.inputs)} inputs; the norm scales "
                              "only one of them")
        if isinstance(node, ir.Conv2d):
            self._conv(node, inputs, a, b)
        elif isinstance(node, (ir.Dense, ir.Readout)):
            weight = node.weight * a.reshape(1, -1)
            bias = _add_bias(node.bias, node.weight @ b.reshape(-1))
            self.plan.put(node, node.replace(inputs=inputs, weight=weight, bias=bias))
        elif isinstance(node, ir.LIF):
            if np.any(b != 0):
                raise NotFoldable(f"lif %{node.name} has no bias to hold the offset b")
            gain = a if node.gain is None else node.gain * a
            self.plan.put(node, node.replace(inputs=inputs, gain=gain))
        else:
            raise NotFoldable(f"{node.kind} %{node.name} cannot take a per-channel scale on its input")
        self.plan.notes.append(f"F6 folded into reader {node.kind} %{node.name}")

    def _conv(self, node: ir.Conv2d, inputs: tuple[ir.Edge, ...], a: np.ndarray, b: np.ndarray) -> None:
        ac, bc = per_channel(a, "scale"), per_channel(b, "offset")
        if np.any(bc != 0) and any(node.padding):
            raise NotFoldable(f"conv2d %{node.name} is zero-padded (padding {node.padding}) and the norm "
                              f"has an offset (max |b| = {float(np.max(np.abs(bc))):.6g}): the border "
                              "outputs would change", PADDED_CONV)
        co, ci_g = node.weight.shape[:2]
        group = np.arange(co) // (co // node.groups)
        channel = group[:, None] * ci_g + np.arange(ci_g)[None, :]  # input channel of W[o, j]
        weight = node.weight * ac[channel][:, :, None, None]
        offsets = (node.weight * bc[channel][:, :, None, None]).sum(axis=(1, 2, 3))
        self.plan.put(node, node.replace(inputs=inputs, weight=weight, bias=_add_bias(node.bias, offsets)))

    def _through(self, node: ir.Op, inputs: tuple[ir.Edge, ...], a: np.ndarray, b: np.ndarray) -> None:
        if node.name in self.plan.graph.outputs:
            raise NotFoldable(f"{node.kind} %{node.name} is a graph output")
        shape = self.plan.graph.shapes[node.name]
        if isinstance(node, ir.Flatten):
            a, b = a.reshape(-1), b.reshape(-1)
        elif isinstance(node, Pooling):
            a, b = self._pooled(node, a, b, shape)
        self.plan.put(node, node.replace(inputs=inputs))
        self._readers(node.name, ir.Edge(node.name), a, b)

    @staticmethod
    def _pooled(node: ir.Op, a: np.ndarray, b: np.ndarray, shape: ir.Shape) -> tuple[np.ndarray, np.ndarray]:
        ac, bc = per_channel(a, "scale"), per_channel(b, "offset")
        if isinstance(node, ir.MaxPool2d) and np.any(ac < 0):
            raise NotFoldable(f"maxpool2d %{node.name} does not commute with a negative scale")
        if isinstance(node, ir.Pool2d):
            if np.any(bc != 0) and any(node.padding):
                raise NotFoldable(f"pool2d %{node.name} is zero-padded: border windows mix b with padding")
            if node.mode == "sum":
                bc = bc * (node.kernel[0] * node.kernel[1])
        return full(ac, shape), full(bc, shape)


def _add_bias(bias: np.ndarray | None, extra: np.ndarray) -> np.ndarray | None:
    if bias is None:
        return extra if np.any(extra != 0) else None
    return bias + extra
