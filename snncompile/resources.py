"""Resource and cost estimate of a compiled graph: neurons, synapses, weight memory, Loihi 2 plan, SynOps, energy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from snncompile import ir
from snncompile.ir.stats import synapse_count
from snncompile.ir.traits import Neuron, PassThrough, Pooling, Synapse, WeightedSynapse
from snncompile.targets.base import Target
from snncompile.targets.loihi.ops import Encode, SkipDense
from snncompile.targets.loihi.partition import LOIHI2_LIMITS, CoreLimits, LayerLoad, ResourcePlan, plan

__all__ = ["LOIHI1_ENERGY", "LOIHI2_LIMITS", "CoreLimits", "EnergyModel", "layer_loads", "loihi_plan",
           "resource_report", "summary_line", "synaptic_ops"]

POPULATIONS: tuple[type, ...] = (Neuron,)
"""What the estimate counts as a population: every neuron op (float, library and Loihi fixed-point)."""
SYNAPSES: tuple[type, ...] = (Synapse, Pooling, SkipDense)
"""What the estimate counts as a synapse: linear synapses, pooling windows and Loihi's stored skip synapses."""
PASS_THROUGH: tuple[type, ...] = (PassThrough, Encode)
"""What it looks through to find a synapse's source: reshapes and Loihi's input encoding."""


@dataclass(frozen=True)
class EnergyModel:
    """Energy per synaptic operation and per neuron update, with where the figures come from."""

    synop_pj: float
    neuron_update_pj: float
    source: str


LOIHI1_ENERGY = EnergyModel(
    23.6, 52.0,
    "Loihi 1 figures (Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', IEEE Micro "
    "38(1):82-99, 2018, table of energy and performance): 23.6 pJ minimum per synaptic spike operation and 52 pJ "
    "per neuron update (the table gives a higher figure for neurons that spike; 52 pJ is the lower one). No "
    "per-operation figures for Loihi 2 are published that we know of; Loihi 2 uses a newer process (Intel 4 vs "
    "14 nm), so these are used as an order-of-magnitude estimate (easily off by 2x either way) that ignores "
    "spike routing between cores, host I/O and static power.")


def _connections(node: ir.Op, graph: ir.Graph) -> int:
    if isinstance(node, SkipDense):
        return int(np.count_nonzero(node.weight))
    return synapse_count(node, graph.shapes[node.name])


def _stored(node: ir.Op) -> int:
    """Weights actually stored when a conv kernel is shared across positions (pooling stores none)."""
    if isinstance(node, WeightedSynapse):
        return int(node.weight.size)
    return int(np.count_nonzero(node.weight)) if isinstance(node, SkipDense) else 0


def source_of(graph: ir.Graph, node: ir.Op) -> str:
    """The population or input a synapse reads, through flatten / identity / encode and pooling (a pooled
    spike map is counted at its source's rate)."""
    src = graph.node(node.inputs[0].src)
    while isinstance(src, (*PASS_THROUGH, Pooling)):
        src = graph.node(src.inputs[0].src)
    return src.name


def _population_inputs(graph: ir.Graph, pop: ir.Op) -> list[ir.Op]:
    """Synapses feeding a population, through adds (residual sums before lowering) and chains of synapse
    ops (pooling before a dense layer), up to the populations or the input they read."""
    found: list[ir.Op] = []
    todo = [e.src for e in pop.inputs]
    while todo:
        node = graph.node(todo.pop())
        if isinstance(node, SYNAPSES) and node not in found:
            found.append(node)
        if isinstance(node, (*SYNAPSES, ir.Add, *PASS_THROUGH)) and not isinstance(node, Encode):
            todo += [e.src for e in node.inputs]
    return found


def _neurons(node: ir.Op, graph: ir.Graph) -> int:
    return int(np.prod(graph.shapes[node.name])) * int(getattr(node, "levels", 1) if isinstance(node, ir.LIF) else 1)


def _groups(graph: ir.Graph, pops: list[ir.Op]) -> list[list[str]]:
    """Populations placed together: Loihi netx layers when scheduled, else one population each."""
    layers = graph.metadata.get("loihi", {}).get("layers")
    return [list(la) for la in layers] if layers else [[p.name] for p in pops]


def _weight_bits(target: Target[Any] | str) -> int:
    """Synapse memory per weight, from the target's capabilities (float targets keep float64 arrays)."""
    from snncompile.targets.registry import resolve_target

    return resolve_target(target).capabilities.weight_bits


def _direct_inputs(graph: ir.Graph, pop: ir.Op) -> list[ir.Op]:
    """What a population sums: its synapses, through adds and flatten / identity (before lower-residual a
    population or the input added directly is an implicit one-to-one synapse, returned as itself)."""
    found: list[ir.Op] = []
    todo = [e.src for e in pop.inputs]
    while todo:
        node = graph.node(todo.pop())
        if isinstance(node, (ir.Add, ir.Flatten, ir.Identity)):
            todo += [e.src for e in node.inputs]
        elif node not in found:
            found.append(node)
    return found


def _fan_in(node: ir.Op) -> int:
    """Distinct sources one neuron reads through `node`."""
    if isinstance(node, ir.Dense):
        return int(node.weight.shape[1])
    if isinstance(node, ir.Conv2d):
        _, ci_g, kh, kw = node.weight.shape
        return int(ci_g * kh * kw)
    if isinstance(node, (ir.Pool2d, ir.MaxPool2d)):
        return int(node.kernel[0] * node.kernel[1])
    if isinstance(node, SkipDense):
        return int(np.count_nonzero(node.weight, axis=1).max(initial=0))
    return 1  # a population added directly: one-to-one


def _loihi_bytes(node: ir.Op, graph: ir.Graph, bits: int) -> int:
    """Synapse memory on Loihi with 8-bit weights: a dense matrix in full, a conv kernel once (shared by every
    output position of a core), pooling as a depthwise kernel of ones, a skip matrix by its nonzeros."""
    if isinstance(node, (ir.Pool2d, ir.MaxPool2d)):
        stored = graph.shapes[node.name][0] * node.kernel[0] * node.kernel[1]
    else:
        stored = _stored(node)
    return -(-int(stored) * bits // 8)


def _source_size(graph: ir.Graph, name: str) -> int:
    node = graph.node(name)
    return _neurons(node, graph) if isinstance(node, POPULATIONS) else int(np.prod(graph.shapes[name]))


def layer_loads(graph: ir.Graph, groups: list[list[ir.Op]] | None = None,
                weight_bits: int = LOIHI2_LIMITS.weight_bits) -> list[LayerLoad]:
    """What each layer (a netx layer, else a population) asks of Loihi's cores, in chain order. Loihi weights
    are 8-bit mantissas whatever the target compiled for, so every target's report plans with them."""
    groups = _population_groups(graph) if groups is None else groups
    layer_of = {p.name: g[0].name for g in groups for p in g}
    fan_in: dict[str, int] = {}
    local: dict[str, int] = {}
    stored: dict[str, int] = {}
    readers: dict[str, dict[str, bool]] = {g[0].name: {} for g in groups}
    for group in groups:
        name, sources_local = group[0].name, set()
        fan_in[name] = max(sum(_fan_in(s) for s in _direct_inputs(graph, p)) for p in group)
        stored[name] = sum(_loihi_bytes(s, graph, weight_bits) for p in group for s in _population_inputs(graph, p))
        for p in group:
            for syn in _direct_inputs(graph, p):
                src = syn.name if not isinstance(syn, SYNAPSES) else source_of(graph, syn)
                dense = isinstance(syn, (ir.Dense, SkipDense))
                if not dense:
                    sources_local.add(src)
                if src in layer_of:
                    seen = readers[layer_of[src]]
                    seen[name] = seen.get(name, False) or dense
        local[name] = sum(_source_size(graph, s) for s in sources_local)
    return [LayerLoad(g[0].name, sum(_neurons(p, graph) for p in g), fan_in[g[0].name], local[g[0].name],
                      stored[g[0].name], tuple(readers[g[0].name].items())) for g in groups]


def _population_groups(graph: ir.Graph) -> list[list[ir.Op]]:
    pops = graph.of_kind(Neuron)
    by_name = {p.name: p for p in pops}
    return [members for group in _groups(graph, pops) if (members := [by_name[n] for n in group if n in by_name])]


def loihi_plan(graph: ir.Graph, limits: CoreLimits = LOIHI2_LIMITS) -> ResourcePlan:
    """The Loihi 2 resource plan of a graph (netx layers when scheduled, else one population per layer)."""
    return plan(layer_loads(graph, weight_bits=limits.weight_bits), limits)


def _layer_rows(graph: ir.Graph, target: Target[Any] | str, limits: CoreLimits) -> tuple[list[dict[str, Any]],
                                                                                         ResourcePlan]:
    groups = _population_groups(graph)
    loads = layer_loads(graph, groups, limits.weight_bits)
    resource_plan = plan(loads, limits)
    bits = _weight_bits(target)
    rows = []
    for members, load, lp in zip(groups, loads, resource_plan.layers, strict=True):
        syns = [s for p in members for s in _population_inputs(graph, p)]
        connections = sum(_connections(s, graph) for s in syns)
        stored = sum(_stored(s) for s in syns)
        rows.append({
            "name": members[0].name if len(members) == 1 else f"{members[0].name} (+{len(members) - 1})",
            "populations": [p.name for p in members], "origin": members[0].origin,
            "shape": list(graph.shapes[members[0].name]), "neurons": load.neurons, "synapses": connections,
            "weights_stored": stored, "weight_bytes": connections * bits // 8,
            "weight_bytes_shared": stored * bits // 8, "fan_in": load.fan_in,
            "loihi_synapse_bytes": load.synapse_bytes,
            "loihi_synapse_bytes_dense": -(-connections * limits.weight_bits // 8), **lp.to_json()})
    return rows, resource_plan


def synaptic_ops(graph: ir.Graph, rates: Mapping[str, float] | None, timesteps: int) -> tuple[float, list[str]]:
    """Σ over on-chip synapses of connections × mean spike rate of the source × T, per inference; sources
    without a measured rate count as firing at every step (an upper bound). Returns (SynOps, assumed)."""
    total, assumed = 0.0, []
    # per population: a synapse read by several populations (MLF levels) needs a copy on each one's core
    for node in (s for p in graph.of_kind(Neuron) for s in _population_inputs(graph, p)):
        src = source_of(graph, node)
        rate = None if rates is None else rates.get(src)
        if rate is None:
            assumed.append(src)
            rate = 1.0
        total += _connections(node, graph) * rate * timesteps
    return total, sorted(set(assumed))


def resource_report(graph: ir.Graph, target: Target[Any] | str, *, rates: Mapping[str, float] | None = None,
                    timesteps: int | None = None, limits: CoreLimits = LOIHI2_LIMITS,
                    energy: EnergyModel = LOIHI1_ENERGY) -> dict[str, Any]:
    """Per layer: neurons, synapses (connections), weight memory and estimated cores; in total: cores, SynOps
    and neuron updates per inference and an energy estimate. `rates`: mean spikes per neuron per step by
    population (or input) name, e.g. measured by verify; without them SynOps is the all-firing upper bound."""
    steps = int(timesteps or graph.timesteps or 1)
    latency = int(graph.metadata.get("loihi", {}).get("latency", 0))
    rows, resource_plan = _layer_rows(graph, target, limits)
    synops, assumed = synaptic_ops(graph, rates, steps)
    neurons = sum(r["neurons"] for r in rows)
    updates = neurons * (steps + latency)  # every neuron updates at every step of the pipelined run
    syn_uj, neuron_uj = synops * energy.synop_pj * 1e-6, updates * energy.neuron_update_pj * 1e-6
    return {
        "layers": rows,
        "totals": {
            "neurons": neurons, "synapses": sum(r["synapses"] for r in rows),
            "weight_bytes": sum(r["weight_bytes"] for r in rows),
            "weight_bytes_shared": sum(r["weight_bytes_shared"] for r in rows),
            "loihi_synapse_bytes": sum(r["loihi_synapse_bytes"] for r in rows),
            "loihi_synapse_bytes_dense": sum(r["loihi_synapse_bytes_dense"] for r in rows),
            "cores": resource_plan.cores, "chips": resource_plan.chips, "boards": resource_plan.boards,
            "timesteps": steps, "latency": latency,
            "synops_per_inference": synops, "neuron_updates_per_inference": updates,
            "synops_basis": "measured spike rates" if not assumed else (
                "upper bound: every neuron spikes at every step" if rates is None else
                f"measured rates; assumed firing at every step: {', '.join(assumed)}"),
            "energy_uj_per_inference": {"synaptic": syn_uj, "neuron_updates": neuron_uj,
                                        "total": syn_uj + neuron_uj},
        },
        "plan": resource_plan.to_json(),
        "assumptions": {
            "weight_bits": _weight_bits(target),
            "core_limits": asdict(limits), "energy": asdict(energy),
            "cores": "Loihi 2 cores per layer with 8-bit weights whatever the target: the largest of the cores "
                     "each per-core limit asks for (neurons, synapse memory with each conv kernel stored once, "
                     "input axons, output axons; `binding` names it), one layer per core, placed in chain "
                     "order (docs/LOIHI.md §9); `loihi_synapse_bytes_dense` is what storing every connection "
                     "would take",
        },
    }


def summary_line(report: dict[str, Any]) -> str:
    """One line for the terminal: the totals of a resource report."""
    t = report["totals"]
    energy = t["energy_uj_per_inference"]["total"]
    bound = "upper bound" if t["synops_basis"].startswith("upper") else "measured rates"
    chips = f"{t['chips']} chip{'s' if t['chips'] != 1 else ''}"
    binding = report.get("plan", {}).get("binding_layers", {})
    bound_by = ", ".join(f"{name} {count}" for name, count in binding.items())
    return (f"resources: {t['neurons']:,} neurons, {t['synapses']:,} synapses, {t['weight_bytes'] / 1024:,.0f} KiB "
            f"weights, ~{t['cores']:,} Loihi 2 cores on {chips} (layers bound by {bound_by}), "
            f"{t['synops_per_inference'] / 1e6:,.2f} M SynOps and ~{energy:,.1f} uJ per inference ({bound}; "
            "see report.json resources.assumptions)")
