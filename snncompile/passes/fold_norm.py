"""fold-norm: fold BN / tdBN / PSP-norm into weights and biases, and MPBN into per-neuron LIF thresholds.

Notation per channel c: D = √(σ² + ε) or √σ² + ε (the node's own ε placement), a = γ·scale/D
(scale = α·V_th for tdBN), b = β − a·μ; PSP-norm: a = γ/√(m2 + ε), b = β or 0. Every rule is exact in
real arithmetic at every timestep; the folded float64 graph differs only by rounding.

Rewrite rules:
  F1  norm(conv|dense(x))        -> conv'|dense'(x):  W'[c] = a_c·W[c],  bias'_c = a_c·(bias_c − μ_c) + β_c
  F2  norm(add(x_1..x_n))        -> add(a·x_1 + b, a·x_2, .., a·x_n): the scale goes to every operand, the
                                    offset once, into the first operand that can hold it (zero-delay path)
  F3  norm(identity|pool|maxpool(x)) -> the same op over a·x + b (pool: b ≠ 0 only unpadded; sum pool:
                                    b/k per term; maxpool: a ≥ 0 only)
  F4  a·norm2(x) + b             -> norm2 with γ' = a·γ, β' = a·(β − m) + β_a (a BN/PSP-norm absorbs a scale;
                                    used when MPBN signs reach a BN that is folded afterwards)
  F5  a producer that other nodes also read, or that is an output, is copied (`<name>_copyN`, same origin)
      before it is changed; the others keep reading the original
  F6  norm(x), x not linear (input, neuron, maxpool with a < 0, ..) -> folded into every reader of the norm:
      dense/readout W'[o, i] = W[o, i]·a_i, bias' = bias + W·b; conv W'[o, c] = W[o, c]·a_c,
      bias'_o = bias_o + Σ_{c,k} W[o, c, k]·b_c (padding only with b = 0: zero padding commutes with a
      pure scale, not with an offset -> SNC501); LIF gain' = gain·a (b = 0 only); through identity,
      flatten and pools to their readers
  F7  mpbn_lif -> lif, same name, decay, comparison ">" and reset: spike iff γ(h − μ)/D + β > θ_n with
      θ_n = fire_level·v_th, i.e. h > θ' = μ + (θ_n − β)·D/γ for γ > 0
  F8  γ_c < 0 (channel-wise, every input a synapse): negate the input rows and biases of channel c
      (F1–F5 with a = −1); the state is −h, the threshold −θ'. Hard reset to 0 is sign-invariant.
  F9  γ < 0 otherwise (signs vary inside a channel, or an input is no synapse, e.g. a spike skip):
      per-neuron gain −1 on the LIF, threshold −θ' (exact: negation is exact in floating point)
  F10 γ = 0: the decision [β/v_th > fire_level] is constant; the neuron becomes memoryless (decay 0) with
      no drive (rows zeroed, or gain 0) and threshold 1 (never), or, when always on, a bias row drive of 1
      against threshold 0.5. Without a row to hold that drive (element-wise signs, spike inputs) the
      always-on neuron gets gain 0 and threshold −1 (0 > −1 every step) and an SNC504 warning.
      Pushing the constant into the readers' biases instead would be inexact at zero-padded borders.

Soft reset: MPBN subtracts 1 raw unit per spike, a subtract-reset LIF subtracts its threshold s·θ' from
its state s·h; they agree exactly when every non-constant θ' = 1 (folded as is), otherwise SNC502.

Each norm is folded into its producers (F1–F5) when possible, which keeps synapses plain weights, and
into its readers (F6) otherwise. Order: MPBN first (its sign rewrite may pass through a BN, F4), then
BN/PSP-norm in topological order;
a norm that cannot fold yet is deferred and retried after any later fold succeeds (a reader norm folded
backward into it through F4 can make it foldable); norms still deferred when nothing moves are errors.

Refused, never approximated (CompileError): SNC500 no exact fold target (e.g. an offset over a delayed
edge, a norm on spikes read by a fan-in); SNC501 an offset norm before a zero-padded conv; SNC502 MPBN
soft reset (one raw unit) unless every θ' = 1; SNC503 zero denominator or non-finite folded value.
Warned (ctx.warn): SNC504 folded thresholds ≤ 0 (exact in float, rejected later by unsigned targets).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic, InternalError
from snncompile.ir.traits import AffineNorm, Normalization
from snncompile.passes.base import Pass, PassContext, Rule
from snncompile.passes.fold_affine import HINTS, NOT_FOLDABLE, NOT_POSITIVE, NotFoldable, affine_of, describe
from snncompile.passes.fold_backward import Absorber
from snncompile.passes.fold_forward import Forwarder
from snncompile.passes.fold_mpbn import fold_mpbn
from snncompile.passes.fold_plan import Plan, largest_change, original_name


def _no_norms(graph: ir.Graph) -> list[Diagnostic]:
    return [Diagnostic("SNC301", f"{n.kind} %{n.name} is still in the graph", node=n.name,
                       origin=n.origin or None, hint="fold-norm must remove every norm; report this")
            for n in graph.of_kind(Normalization)]


NO_NORMS = Rule("no-norm-ops", _no_norms, "no BatchNorm, PSPNorm or MPBNLIF node remains")


def fold_affine_norm(plan: Plan, norm: ir.Op) -> None:
    """F1–F5 into the producers; failing that, F6 into the readers; failing both, NotFoldable."""
    aff = affine_of(norm)
    backward = plan.fork()
    try:
        result = Absorber(backward).edge(norm.inputs[0], aff, exclusive=True)
        if norm.name in plan.graph.outputs and result.delay:
            raise NotFoldable("it is a graph output read through a delayed edge")
        backward.remove(norm.name, result)
        backward.notes.append(f"F1 folded {describe(norm)} into its producer(s): now %{result.src}")
        backward.count("into_producers")
        plan.adopt(backward)
        return
    except NotFoldable as exc:
        back = exc
    forward = plan.fork()
    try:
        Forwarder(forward).fold(norm, aff)
    except NotFoldable as fwd:
        code = fwd.code if fwd.code != NOT_FOLDABLE else back.code
        raise NotFoldable(f"into producers: {back.reason}; into readers: {fwd.reason}", code) from None
    forward.notes.append(f"F6 folded {describe(norm)} into its readers (input %{norm.inputs[0].src} is "
                         f"not linear: {back.reason})")
    forward.count("into_readers")
    plan.adopt(forward)


@dataclass
class _Report:
    """Totals over the whole pass, published as ctx.stats."""

    counts: dict[str, int]

    def add(self, plan: Plan, ctx: PassContext) -> None:
        for note in plan.notes:
            ctx.note(note)
        for original, copy in plan.copies:
            ctx.note(f"F5 copied %{original} as %{copy} (its other readers keep the original)")
        for key, n in [*plan.counts.items(), ("copies", len(plan.copies))]:
            self.counts[key] = self.counts.get(key, 0) + n

    def publish(self, before: ir.Graph, after: ir.Graph, ctx: PassContext) -> None:
        """Counts, and the largest |new − old| of any parameter against the input graph (copies against
        the node they copy)."""
        ctx.stats.update(self.counts)
        changes = [(largest_change(before.node(original_name(n.name, before)), n), n.name)
                   for n in after.nodes if original_name(n.name, before) in before]
        value, name = max(changes, default=(0.0, ""))
        ctx.stats["largest_change"], ctx.stats["largest_change_node"] = value, name
        if value:
            ctx.note(f"largest parameter change {value:.6g} at %{name}")


@dataclass(frozen=True)
class FoldNorm(Pass):
    name = "fold-norm"
    summary = "fold BN/tdBN/PSP-norm into weights and biases, MPBN into per-neuron LIF thresholds (exact)"
    ensures = (NO_NORMS,)

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        report, original = _Report({}), graph
        errors: list[Diagnostic] = []
        mpbn = [n.name for n in graph.of_kind(ir.MPBNLIF)]
        for name in mpbn:
            graph = self._fold(graph, graph.node(name), fold_mpbn, report, errors, ctx)
        deferred: dict[str, Diagnostic] = {}
        budget = 4 * len(graph) + 100  # every fold removes a norm; copies only appear upstream of it
        while (norm := _next_norm(graph, deferred)) is not None:
            budget -= 1
            if budget < 0:
                raise InternalError(f"fold-norm made no progress folding %{norm.name}")
            problems: list[Diagnostic] = []
            graph = self._fold(graph, norm, fold_affine_norm, report, problems, ctx)
            if problems:
                deferred[norm.name] = problems[0]
            else:
                deferred.clear()  # progress: a deferred norm may fold now (e.g. a reader norm became a BN)
        errors += deferred.values()
        if errors:
            raise CompileError(errors)
        _warn_thresholds(graph, mpbn, ctx)
        report.publish(original, graph, ctx)
        return graph

    @staticmethod
    def _fold(graph: ir.Graph, node: ir.Op, fold: Callable[[Plan, Any], object], report: _Report,
              errors: list[Diagnostic], ctx: PassContext) -> ir.Graph:
        plan = Plan(graph)
        try:
            fold(plan, node)
        except NotFoldable as exc:
            text = user_names(f"{describe(node)} cannot be folded exactly: {exc.reason}", graph)
            errors.append(Diagnostic(exc.code, text, node=node.name, origin=node.origin or None, hint=HINTS[exc.code]))
            return graph
        report.add(plan, ctx)
        return plan.apply()


_NODE_REF = re.compile(r"%([\w.]+?)(@\d+)?(?=[\s,;:)]|$)")


def user_names(text: str, graph: ir.Graph) -> str:
    """`text` with every `%node` the user did not write (an IR name) replaced by the module path it came
    from, e.g. `%0.lif1_copy1` -> `0.lif1`; names without an origin stay as they are."""
    def name(m: re.Match[str]) -> str:
        node = m.group(1)
        origin = graph.node(node).origin if node in graph else ""
        return f"`{origin}`{m.group(2) or ''}" if origin else m.group(0)
    return _NODE_REF.sub(name, text)


def _next_norm(graph: ir.Graph, deferred: dict[str, Diagnostic]) -> ir.Op | None:
    return next((n for n in graph.nodes if isinstance(n, AffineNorm) and n.name not in deferred),
                None)


def _warn_thresholds(graph: ir.Graph, names: list[str], ctx: PassContext) -> None:
    """SNC504 for folded MPBN layers with thresholds ≤ 0 (β > θ_n with small μ, γ < 0, pinned neurons)."""
    for node in (cast(ir.LIF, graph.node(name)) for name in names):  # fold_mpbn made each one an ir.LIF
        low = ir.expand_param(node.threshold <= 0, (node.levels, *graph.shapes[node.name]))  # counted per neuron
        if np.any(low):
            ctx.warn(Diagnostic(NOT_POSITIVE, f"{int(low.sum())} of {low.size} thresholds are ≤ 0 "
                                f"(min {float(node.threshold.min()):.6g})", node=node.name,
                                origin=node.origin or None, hint=HINTS[NOT_POSITIVE], severity="warning"))
