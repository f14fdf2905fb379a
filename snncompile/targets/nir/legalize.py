"""NIR legality: what the export refuses or approximates (SNC80x), max-pooling as OR populations, and the
optional move of neuron input gains into synapse weights (the passes nir-maxpool and nir-legalize)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.ir.ops_ext import LIFExt
from snncompile.ir.traits import WeightedSynapse
from snncompile.passes.base import Pass, PassContext
from snncompile.targets.loihi.caps import LoihiOptions

APPROXIMATIONS = ("reset", "non-strict")
"""Opt-in names: export a reset NIR cannot express as reset to v_reset = 0; export `≥` as NIR's `>`."""
NEURON_KINDS: tuple[type[ir.LIF], type[LIFExt]] = (ir.LIF, LIFExt)
"""The neuron ops NIR can state (as IF, LIF, CubaLIF, or LI/I + Threshold)."""
SUPPORTED = frozenset({ir.Input, ir.Dense, ir.Conv2d, ir.Pool2d, ir.Flatten, ir.LIF, LIFExt, ir.Readout})


def memoryless(op: ir.Op) -> bool:
    """True when the membrane carries nothing from one step to the next (decay 0): the reset is irrelevant."""
    return bool(np.all(op.decay == 0))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NirOptions:
    """dt: the Euler step (s) the continuous parameters are computed for (snntorch hard-codes 1e-4).
    allow: approximations accepted explicitly (APPROXIMATIONS); each one is a warning and goes in the report.
    input_gain: "r" puts a neuron's input gain g into r = g·τ/dt (snntorch, spikingjelly); "weights" scales
    the incoming synapse rows by g·τ/dt and writes r = 1 (norse's importer ignores r).
    quantize: None (float) or "loihi": compile for Loihi first, then write the quantized parameters in real
    units (integer · ledger scale; nir_quantized.py), with the scales in the metadata."""

    dt: float = field(default=1e-4, metadata={"cli": False})  # --nir-dt also names a .nir source's step
    allow: frozenset[str] = field(default_factory=frozenset, metadata={
        "choices": ("reset", "non-strict"), "multiple": True,
        "help": "--target nir: export this approximation anyway (warned and recorded in the report)"})
    input_gain: str = field(default="r", metadata={
        "choices": ("r", "weights"), "show_default": True,
        "help": "--target nir: neuron input gain in r (snntorch, spikingjelly) or in the weights (norse)"})
    quantize: str | None = field(default=None, metadata={
        "choices": ("loihi",),
        "help": "--target nir: compile for Loihi first and write the quantized parameters in real units, scales "
                "in the metadata"})
    loihi: LoihiOptions = field(default_factory=LoihiOptions, metadata={"cli": False})
    """The Loihi compile's options when quantize="loihi"."""

    def diagnostics(self) -> list[Diagnostic]:
        """SNC806 for every invalid field."""
        from snncompile.targets.nir.target import option_problems

        return option_problems(self)

    def uses(self, name: str) -> bool:
        """Whether option `name` has an effect with the other options as they are (loihi: only when quantizing)."""
        return name != "loihi" or self.quantize == "loihi"


def _diag(code: str, op: ir.Op, message: str, hint: str | None = None, warning: bool = False) -> Diagnostic:
    return Diagnostic(code, message, node=op.name, origin=op.origin or None, hint=hint,
                      severity="warning" if warning else "error")


def _range_problems(op: ir.Op) -> list[Diagnostic]:
    beta = op.decay  # type: ignore[attr-defined]
    found = []
    if np.any((beta < 0) | (beta > 1)) or (np.any(beta == 1) and not np.all(beta == 1)):
        found.append(_diag("SNC803", op, f"decay in [{beta.min():.6g}, {beta.max():.6g}]: NIR needs 0 ≤ β < 1 "
                           "(τ = dt/(1 − β)) or β = 1 for every neuron (nir.IF)"))
    syn = getattr(op, "syn_decay", None)
    if syn is not None and np.any((syn < 0) | (syn >= 1)):
        found.append(_diag("SNC803", op, "synaptic decay outside [0, 1): no nir.CubaLIF tau_syn"))
    if syn is not None and np.any(beta == 1):
        found.append(_diag("SNC803", op, "current-based neuron without leak: nir.CubaLIF needs a finite tau_mem"))
    return found


def _reset_problem(op: ir.LIF | LIFExt) -> str | None:
    timing = getattr(op, "reset_timing", "immediate")
    if timing != "immediate":
        return f"reset_timing {timing!r} (the reset of a step decided by the previous membrane)"
    if op.reset == "subtract" and not memoryless(op):
        return "reset by subtraction (NIR resets to v_reset)"
    if op.reset == "none" and getattr(op, "syn_decay", None) is not None and not memoryless(op):
        return "reset 'none' on a current-based neuron (nir.CubaLIF always resets)"
    return None


def neuron_findings(op: ir.LIF | LIFExt, allow: frozenset[str]) -> list[Diagnostic]:
    """Errors for what NIR cannot say about this neuron; warnings for the approximations in `allow`."""
    found = _range_problems(op)
    if isinstance(op, ir.LIF) and op.levels != 1:
        found.append(_diag("SNC800", op, f"{op.levels}-level (MLF) population", "run lower-mlf first"))
    reset = _reset_problem(op)
    if reset is not None:
        ok = "reset" in allow
        found.append(_diag("SNC805" if ok else "SNC801", op, f"{reset}" + (": exported as reset to 0" if ok else ""),
                           None if ok else "train with reset to zero, or accept the approximation with "
                           "allow={'reset'} (CLI: --nir-allow reset)", warning=ok))
    if op.comparison == ">=":
        ok = "non-strict" in allow
        found.append(_diag("SNC805" if ok else "SNC802", op, "non-strict threshold (≥); NIR fires on v > θ"
                           + (": exported as >" if ok else ""), None if ok else
                           "spikes differ only where v == θ exactly; accept with allow={'non-strict'} (CLI: "
                           "--nir-allow non-strict). spikingjelly's importer fires on ≥ and reproduces it", warning=ok))
    return found


def nir_findings(graph: ir.Graph, options: NirOptions) -> list[Diagnostic]:
    """Every problem exporting `graph` to NIR: errors (refused) and warnings (accepted approximations)."""
    found: list[Diagnostic] = []
    for op in graph.nodes:
        if type(op) not in SUPPORTED:
            hint = "NIR has no max-pooling node; use average pooling" if isinstance(op, ir.MaxPool2d) else None
            found.append(_diag("SNC800", op, f"`{op.kind}` has no NIR equivalent", hint))
        elif isinstance(op, NEURON_KINDS):
            found += neuron_findings(op, options.allow)
        srcs = [(e.src, e.delay) for e in op.inputs if e.delay == 0]
        if len(set(srcs)) != len(srcs):
            found.append(_diag("SNC804", op, "reads the same node twice; NIR edges cannot repeat"))
    return found


def errors(graph: ir.Graph, options: NirOptions) -> list[Diagnostic]:
    return [d for d in nir_findings(graph, options) if d.severity == "error"]


def _row_factor(op: ir.Op, shape: ir.Shape) -> tuple[np.ndarray, np.ndarray]:
    """(f, g'): the per-neuron factor moved into the synapse rows and the gain left on the neuron, with
    g'·f = g: f = g/(1 − β), g' = 1 − β (so that r = g'·τ/dt = 1); IF (β = 1): f = g, g' = 1."""
    beta = np.broadcast_to(op.decay, shape)  # type: ignore[attr-defined]
    gain = np.ones(shape) if op.gain is None else np.broadcast_to(op.gain, shape)  # type: ignore[attr-defined]
    if np.all(beta == 1):
        return gain, np.ones(shape)
    return gain / (1.0 - beta), 1.0 - beta


def _channel_rows(f: np.ndarray, syn: ir.Op) -> np.ndarray | None:
    rows = f.reshape(f.shape[0], -1)
    if isinstance(syn, ir.Conv2d) and np.any(rows != rows[:, :1]):
        return None  # a conv kernel is shared over positions: one factor per channel only
    return rows[:, 0]


def gain_to_weights(graph: ir.Graph) -> tuple[ir.Graph, list[Diagnostic]]:
    """input_gain "weights": y = g·(W x + b) = g'·(f·W x + f·b) with g' = 1 − β (r = 1 in NIR), exact in reals."""
    shapes = graph.shapes
    factors: dict[str, np.ndarray] = {}
    neurons: dict[str, ir.Op] = {}
    problems = []
    for op in graph.of_kind(*NEURON_KINDS):
        if getattr(op, "syn_decay", None) is not None:
            continue  # CubaLIF keeps w_in and r, which every importer honours
        f, g_new = _row_factor(op, shapes[op.name])
        for e in op.inputs:
            syn = graph.node(e.src)
            rows = _channel_rows(f, syn) if isinstance(syn, WeightedSynapse) else None
            if rows is None or (e.src in factors and not np.array_equal(factors[e.src], rows)):
                problems.append(_diag("SNC804", op, f"input gain cannot move into %{e.src} ({syn.kind}, per-channel "
                                      "factor or shared with other neurons)", "use input_gain='r'"))
                continue
            factors[e.src] = rows
        neurons[op.name] = op.replace(gain=g_new)
    nodes = [neurons.get(n.name) or _scaled(n, factors.get(n.name)) for n in graph.nodes]
    return graph.with_nodes(nodes), problems


def _scaled(op: ir.Op, rows: np.ndarray | None) -> ir.Op:
    if rows is None:
        return op
    shape = (-1, 1) if isinstance(op, ir.Dense) else (-1, 1, 1, 1)
    bias = None if op.bias is None else op.bias * rows  # type: ignore[attr-defined]
    return op.replace(weight=op.weight * rows.reshape(shape), bias=bias)  # type: ignore[attr-defined]


def or_population(n: ir.MaxPool2d, shape: ir.Shape) -> list[ir.Op]:
    """Max-pooling of binary spikes as an OR population: a sum over the window exceeds 1/2 iff one spike is
    in it; the membrane is 0 after every step (reset when it fires, 1/2 · 0 + 0 otherwise)."""
    if n.dilation == (1, 1):
        window: ir.Op = ir.Pool2d(f"{n.name}.or", n.inputs, n.origin, mode="sum", kernel=n.kernel, stride=n.stride,
                                  padding=n.padding)
    else:
        c = shape[0]
        window = ir.Conv2d(f"{n.name}.or", n.inputs, n.origin, weight=np.ones((c, 1, *n.kernel)), stride=n.stride,
                           padding=n.padding, dilation=n.dilation, groups=c)
    out = window.infer_shape([shape])
    return [window, ir.LIF(n.name, (ir.Edge(window.name),), n.origin, decay=np.full(out, 0.5),
                           threshold=np.full((1, *out), 0.5))]


@dataclass(frozen=True)
class NirMaxPool(Pass):
    name = "nir-maxpool"
    summary = "max-pooling of binary spikes becomes an OR population (sum pooling + LIF θ = 1/2)"

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        nodes: list[ir.Op] = []
        problems = []
        for n in graph.nodes:
            if not isinstance(n, ir.MaxPool2d):
                nodes.append(n)
                continue
            src = graph.node(n.inputs[0].src)
            if isinstance(src, ir.LIF) and src.levels == 1 and not n.inputs[0].delay:
                nodes += or_population(n, graph.shapes[src.name])
                ctx.note(f"%{n.name} became an OR population")
            else:
                problems.append(_diag("SNC800", n, f"max-pooling of %{src.name} ({src.kind}), not of binary spikes",
                                      "NIR has no max-pooling node; pool binary spikes, or use average pooling"))
        if problems:
            raise CompileError(problems)
        return graph.with_nodes(nodes) if len(nodes) != len(graph.nodes) else graph


@dataclass(frozen=True)
class NirLegalize(Pass):
    name = "nir-legalize"
    summary = "refuse what NIR cannot express, warn for accepted approximations; input gains into weights (option)"
    options: NirOptions = field(default_factory=NirOptions)

    @property
    def spec(self) -> str:
        allow = "+".join(sorted(self.options.allow)) or "none"
        return f"{self.name}{{dt={self.options.dt:g},allow={allow},input_gain={self.options.input_gain}}}"

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        findings = nir_findings(graph, self.options)
        errors = [d for d in findings if d.severity == "error"]
        if self.options.input_gain == "weights" and not errors:
            graph, problems = gain_to_weights(graph)
            errors += problems
            ctx.note("moved neuron input gains into synapse rows (NIR r = 1)")
        if errors:
            raise CompileError(errors)
        for d in findings:
            ctx.warn(d)
        ctx.stats.update(approximations=len(findings))
        return graph
