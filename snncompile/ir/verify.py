"""Structural and shape verification of a Graph, reporting every problem with the node it concerns."""

from __future__ import annotations

from snncompile.errors import CompileError, Diagnostic
from snncompile.ir.base import Shape, ShapeError
from snncompile.ir.graph import Graph
from snncompile.ir.ops_neuron import Readout
from snncompile.ir.ops_synapse import Input


def verify(graph: Graph) -> list[Diagnostic]:
    """All problems found in `graph` (empty when it is well formed)."""
    diags = _check_names_and_edges(graph)
    diags += _check_outputs(graph)
    diags += _check_shapes_and_params(graph)
    return diags


def verify_or_raise(graph: Graph) -> None:
    diags = verify(graph)
    if diags:
        raise CompileError(diags)


def _diag(code: str, message: str, node: object = None, hint: str | None = None) -> Diagnostic:
    name = getattr(node, "name", None)
    origin = getattr(node, "origin", None) or None
    return Diagnostic(code, message, node=name, origin=origin, hint=hint)


def _check_names_and_edges(graph: Graph) -> list[Diagnostic]:
    diags = []
    seen: set[str] = set()
    names = {n.name for n in graph.nodes}
    for n in graph.nodes:
        if n.name in seen:
            diags.append(_diag("SNC201", f"name %{n.name} is used by more than one node", n))
        arity = n.arity
        if arity is not None and len(n.inputs) != arity:
            diags.append(_diag("SNC204", f"{n.kind} takes {arity} input(s), has {len(n.inputs)}", n))
        if arity is None and not n.inputs:
            diags.append(_diag("SNC204", f"{n.kind} needs at least one input", n))
        for e in n.inputs:
            if e.src not in names:
                diags.append(_diag("SNC202", f"input %{e.src} does not exist", n))
            elif e.delay == 0 and e.src not in seen:
                diags.append(_diag("SNC203", f"zero-delay input %{e.src} is not computed before this "
                                   "node (cycle or wrong order)", n,
                                   hint="build graphs with Graph.with_nodes, which sorts them"))
            if e.delay < 0:
                diags.append(_diag("SNC205", f"edge from %{e.src} has negative delay {e.delay}", n))
        seen.add(n.name)
    return diags


def _check_outputs(graph: Graph) -> list[Diagnostic]:
    diags = []
    if not graph.outputs:
        diags.append(Diagnostic("SNC206", "graph has no outputs", hint="name the output nodes in Graph(..., outputs)"))
    for name in graph.outputs:
        if name not in graph:
            diags.append(Diagnostic("SNC206", f"output %{name} does not exist", hint="name nodes of the graph"))
    if not graph.of_kind(Input):
        diags.append(Diagnostic("SNC206", "graph has no input node", hint="add an ir.Input node"))
    for n in graph.of_kind(Readout):
        if graph.consumers(n.name):
            diags.append(_diag("SNC206", "a readout averages over time and cannot feed other nodes", n))
    return diags


def _check_shapes_and_params(graph: Graph) -> list[Diagnostic]:
    diags = []
    shapes: dict[str, Shape | None] = {}
    for n in graph.nodes:
        ins = [shapes.get(e.src) for e in n.inputs]
        bad_arity = len(ins) != n.arity if n.arity is not None else not ins
        if bad_arity or any(s is None for s in ins):
            shapes[n.name] = None  # already reported upstream or as an edge/arity problem
            continue
        try:
            shapes[n.name] = n.infer_shape(ins)  # type: ignore[arg-type]
        except (ShapeError, ValueError) as exc:
            shapes[n.name] = None
            diags.append(_diag("SNC204", str(exc), n))
            continue
        except Exception as exc:  # a malformed node (e.g. a required array left None) is a finding, not a crash
            shapes[n.name] = None
            diags.append(_diag("SNC205", f"malformed {n.kind} node: {type(exc).__name__}: {exc}", n))
            continue
        diags += [_diag("SNC205", msg, n) for msg in n.check(ins)]  # type: ignore[arg-type]
    return diags
