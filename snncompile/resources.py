"""Resource and cost estimate of a compiled graph: neurons, synapses, weight memory, Loihi 2 cores, SynOps, energy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from snncompile import ir
from snncompile.ir.stats import synapse_count
from snncompile.ir.traits import Neuron, PassThrough, Pooling, Synapse, WeightedSynapse
from snncompile.targets.base import Target
from snncompile.targets.loihi.ops import Encode, SkipDense

SYNAPSES: tuple[type, ...] = (Synapse, Pooling, SkipDense)
"""What the estimate counts as a synapse: linear synapses, pooling windows and Loihi's stored skip synapses."""
PASS_THROUGH: tuple[type, ...] = (PassThrough, Encode)
"""What it looks through to find a synapse's source: reshapes and Loihi's input encoding."""


@dataclass(frozen=True)
class CoreLimits:
    """Per-core capacity used to estimate how many neuromorphic cores a network needs."""

    chip: str
    cores_per_chip: int
    neurons_per_core: int
    synaptic_memory_bytes: int
    source: str


LOIHI2_LIMITS = CoreLimits(
    "Loihi 2", 128, 8192, 128 * 1024,
    "128 cores per chip and up to 1 M neurons per chip (hence up to 8,192 per core): Intel, 'Taking Neuromorphic "
    "Computing to the Next Level with Loihi 2', technology brief, 2021. Intel publishes no per-core synaptic memory "
    "size for Loihi 2 that we could check; 128 KB is Loihi 1's (16 MB of synaptic memory over 128 cores, Davies "
    "et al., IEEE Micro 38(1), 2018), used here as an assumption. Neuron state shares core memory with synapses "
    "on the real chip, and Lava's compiler decides the actual partitioning: treat the core count as an estimate.")


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


LOIHI_WEIGHT_BITS = 8
"""Loihi weights are 8-bit mantissas (even integers in [-256, 254]); cores are estimated for them on any target."""


def _weight_bits(target: Target[Any] | str) -> int:
    """Synapse memory per weight, from the target's capabilities (float targets keep float64 arrays)."""
    from snncompile.targets.registry import resolve_target

    return resolve_target(target).capabilities.weight_bits


def _layer_rows(graph: ir.Graph, target: Target[Any] | str, limits: CoreLimits) -> list[dict[str, Any]]:
    pops = graph.of_kind(Neuron)
    by_name = {p.name: p for p in pops}
    bits = _weight_bits(target)
    rows = []
    for group in _groups(graph, pops):
        members = [by_name[n] for n in group if n in by_name]
        syns = [s for p in members for s in _population_inputs(graph, p)]
        neurons = sum(_neurons(p, graph) for p in members)
        connections = sum(_connections(s, graph) for s in syns)
        stored = sum(_stored(s) for s in syns)
        loihi_dense, loihi_shared = connections * LOIHI_WEIGHT_BITS // 8, stored * LOIHI_WEIGHT_BITS // 8
        rows.append({
            "name": members[0].name if len(members) == 1 else f"{members[0].name} (+{len(members) - 1})",
            "populations": [p.name for p in members], "origin": members[0].origin,
            "shape": list(graph.shapes[members[0].name]), "neurons": neurons, "synapses": connections,
            "weights_stored": stored, "weight_bytes": connections * bits // 8,
            "weight_bytes_shared": stored * bits // 8,
            "cores": _cores(neurons, loihi_dense, limits), "cores_shared": _cores(neurons, loihi_shared, limits)})
    return rows


def _cores(neurons: int, weight_bytes: int, limits: CoreLimits) -> int:
    return max(1, math.ceil(neurons / limits.neurons_per_core), math.ceil(weight_bytes / limits.synaptic_memory_bytes))


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
    rows = _layer_rows(graph, target, limits)
    synops, assumed = synaptic_ops(graph, rates, steps)
    neurons = sum(r["neurons"] for r in rows)
    updates = neurons * (steps + latency)  # every neuron updates at every step of the pipelined run
    cores = sum(r["cores"] for r in rows)
    syn_uj, neuron_uj = synops * energy.synop_pj * 1e-6, updates * energy.neuron_update_pj * 1e-6
    return {
        "layers": rows,
        "totals": {
            "neurons": neurons, "synapses": sum(r["synapses"] for r in rows),
            "weight_bytes": sum(r["weight_bytes"] for r in rows),
            "weight_bytes_shared": sum(r["weight_bytes_shared"] for r in rows),
            "cores": cores, "cores_shared": sum(r["cores_shared"] for r in rows),
            "chips": math.ceil(cores / limits.cores_per_chip), "timesteps": steps, "latency": latency,
            "synops_per_inference": synops, "neuron_updates_per_inference": updates,
            "synops_basis": "measured spike rates" if not assumed else (
                "upper bound: every neuron spikes at every step" if rates is None else
                f"measured rates; assumed firing at every step: {', '.join(assumed)}"),
            "energy_uj_per_inference": {"synaptic": syn_uj, "neuron_updates": neuron_uj,
                                        "total": syn_uj + neuron_uj},
        },
        "assumptions": {
            "weight_bits": _weight_bits(target),
            "core_limits": asdict(limits), "energy": asdict(energy),
            "cores": "Loihi 2 cores per layer, with 8-bit weights whatever the target: max(neurons / "
                     "neurons_per_core, weight bytes / synaptic memory), layers on separate cores; `cores` stores "
                     "every connection, `cores_shared` each conv kernel once",
        },
    }


def summary_line(report: dict[str, Any]) -> str:
    """One line for the terminal: the totals of a resource report."""
    t = report["totals"]
    energy = t["energy_uj_per_inference"]["total"]
    bound = "upper bound" if t["synops_basis"].startswith("upper") else "measured rates"
    return (f"resources: {t['neurons']:,} neurons, {t['synapses']:,} synapses, {t['weight_bytes'] / 1024:,.0f} KiB "
            f"weights, ~{t['cores']} Loihi 2 cores ({t['cores_shared']} with shared conv kernels), "
            f"{t['synops_per_inference'] / 1e6:,.2f} M SynOps and ~{energy:,.1f} uJ per inference ({bound}; "
            "see report.json resources.assumptions)")
