"""Backward folding: absorb a per-channel affine into the linear ops that produce a value (copy-on-share)."""

from __future__ import annotations

import numpy as np

from snncompile import ir
from snncompile.ir.traits import AffineNorm, WeightedSynapse
from snncompile.passes.fold_affine import Affine, NotFoldable
from snncompile.passes.fold_plan import Plan


def _rows(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + (1,) * (weight.ndim - 1))


class Absorber:
    """Rewrites producers so that they compute a·x + b instead of x, per channel c:

        conv2d / dense:   W'[c] = a_c·W[c],  bias'_c = a_c·(bias_c − m_c) + β_c
        batchnorm:        γ'_c = a_c·γ_c,     β'_c likewise (a·BN(x) + b is again a BN)
        pspnorm:          γ'_c = a_c·γ_c,     bias' likewise (None while b = 0)
        add / fan-in:     every operand gets a, exactly one zero-delay operand gets b
        identity:         a, b go to its input
        pool2d:           a, b go to its input (avg: b; sum: b/k per term); b ≠ 0 needs no padding
        maxpool2d:        a, b go to its input when every a_c ≥ 0 (max commutes with a monotone map)

    A node whose only reader is the one being rewritten (and that is no output) changes in place;
    otherwise it is copied, so other readers still see the old value. An offset never crosses a
    delayed edge: a delayed read is 0, not b, during the first steps.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def edge(self, e: ir.Edge, aff: Affine, exclusive: bool) -> ir.Edge:
        """Edge to a node computing a·src + b, read with the same delay as `e`."""
        if e.delay and aff.has_offset:
            raise NotFoldable(f"the offset would have to cross the delayed edge %{e.src}@{e.delay} "
                              "(a delayed read is 0, not b, during the first steps)")
        result = self.node(self.plan.graph.node(e.src), aff, exclusive)
        return ir.Edge(result.src, result.delay + e.delay)

    def fan_in(self, edges: tuple[ir.Edge, ...], aff: Affine, exclusive: bool) -> tuple[ir.Edge, ...]:
        """Σ_i x_i → Σ_i a·x_i, plus b on the first operand that can hold it."""
        at = self._offset_operand(edges, aff, exclusive) if aff.has_offset else -1
        bare = aff.without_offset()
        return tuple(self.edge(e, aff if i == at else bare, exclusive) for i, e in enumerate(edges))

    def _offset_operand(self, edges: tuple[ir.Edge, ...], aff: Affine, exclusive: bool) -> int:
        reasons = []
        for i, e in enumerate(edges):
            try:
                Absorber(self.plan.fork()).edge(e, aff, exclusive)
                return i
            except NotFoldable as exc:
                reasons.append(f"%{e.src}: {exc.reason}")
        raise NotFoldable("no operand can hold the offset (" + "; ".join(reasons) + ")")

    def node(self, node: ir.Op, aff: Affine, exclusive: bool) -> ir.Edge:
        own = exclusive and self.plan.owned(node.name)
        if isinstance(node, WeightedSynapse):
            return self.plan.emit(node, own, weight=node.weight * _rows(aff.scale, node.weight),
                                  bias=aff.fold_bias(node.bias))
        if isinstance(node, AffineNorm):
            self.plan.notes.append(f"F4 composed the affine into {node.kind} %{node.name} (γ·a, a·(β − m) + β_a)")
            return self.plan.emit(node, own, weight=node.weight * aff.scale, bias=aff.fold_bias(node.bias))
        if isinstance(node, ir.Add):
            inputs = self.fan_in(node.inputs, aff, own)
            self.plan.notes.append(f"F2 distributed the scale over add %{node.name}"
                                   + (" (offset on one operand)" if aff.has_offset else ""))
            return self.plan.emit(node, own, inputs=inputs)
        if isinstance(node, (ir.Identity, ir.Pool2d, ir.MaxPool2d)):
            return self._through(node, aff, own)
        raise NotFoldable(f"%{node.name} ({node.kind}) is not a linear op that can hold a scale")

    def _through(self, node: ir.Op, aff: Affine, own: bool) -> ir.Edge:
        inner = aff
        if isinstance(node, ir.Pool2d):
            if aff.has_offset and any(node.padding):
                raise NotFoldable(f"pool2d %{node.name} is zero-padded: its border windows would average "
                                  "the offset with padding zeros")
            if node.mode == "sum":
                inner = aff.per_sum_term(node.kernel[0] * node.kernel[1])
        if isinstance(node, ir.MaxPool2d) and np.any(aff.scale < 0):
            raise NotFoldable(f"maxpool2d %{node.name} does not commute with a negative scale (max becomes min)")
        src = self.edge(node.inputs[0], inner, own)
        self.plan.notes.append(f"F3 passed the affine through {node.kind} %{node.name}")
        if isinstance(node, ir.Identity) and not own:
            return src  # a copied identity is pointless: read the absorbed value directly
        return self.plan.emit(node, own, inputs=(src,))
