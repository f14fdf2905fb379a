"""Loihi 2 resource plan: cores per layer from each per-core limit, and a greedy placement onto cores and chips.

Per layer (a netx layer, or one population of a float graph), with N neurons, F distinct sources per neuron,
S source neurons read through local (conv / pooling) synapses, B bytes of weights as Loihi stores them (a
conv kernel once, not once per output position) and d destination cores per neuron in the layers it feeds:

    neurons         ⌈N / neurons_per_core⌉
    synapse_memory  ⌈B / synaptic_memory_bytes⌉
    fan_in          the larger of ⌈S / input_axons⌉ (every local source needs an input axon on some core) and,
                    when F > input_axons, k·⌈N / neurons_per_core⌉ with k = ⌈F / input_axons⌉ input slices
                    (each neuron's inputs summed from k cores)
    fan_out         ⌈N·Σ d / output_axons⌉,  d = all cores of a dense target; for a local (conv) target its
                    synapse_memory cores (channel groups, each reading every input channel), at most its cores
    cores           the largest of the four; `binding` names it (first of the order above on a tie)

Placement (place): layers in netx chain order on consecutive cores, one layer per core (cores are not shared
between layers); a layer that fits on one chip but not in the cores left on the current chip starts on the
next chip; a layer larger than a chip continues across chips from where the previous one ended. For this
order-preserving placement, filling each chip as far as it goes gives the fewest chips. docs/LOIHI.md §9.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

LIMIT_ORDER = ("neurons", "synapse_memory", "fan_in", "fan_out")
"""The per-core limits, in the order that breaks ties for the binding one."""


@dataclass(frozen=True)
class CoreLimits:
    """Per-core and per-chip capacities assumed by the resource plan (docs/LOIHI.md §9.1 gives each source)."""

    chip: str
    cores_per_chip: int
    neurons_per_core: int
    synaptic_memory_bytes: int
    input_axons: int
    output_axons: int
    chips_per_board: int
    weight_bits: int
    source: str


LOIHI2_LIMITS = CoreLimits(
    "Loihi 2", cores_per_chip=128, neurons_per_core=8192, synaptic_memory_bytes=128 * 1024, input_axons=4096,
    output_axons=4096, chips_per_board=8, weight_bits=8, source=(
        "published: 128 neuro cores and up to 1 M neurons per Loihi 2 chip (Intel, 'Taking Neuromorphic Computing "
        "to the Next Level with Loihi 2', technology brief, 2021); 8 chips on a Kapoho Point board (Intel, 2021). "
        "derived: 8,192 neurons per core = 1 M / 128. assumed: 128 KiB of synaptic memory per core (Loihi 1's "
        "16 MB over 128 cores, Davies et al., IEEE Micro 38(1), 2018; no per-core synaptic figure for Loihi 2 is "
        "published that we could check); 4,096 input and 4,096 output axons per core (Loihi 1's limits as the "
        "NxSDK-based nengo-loihi checks them); 8-bit weights, one byte each, conv kernels shared within a core. "
        "Lava's own compiler decides the real placement: the plan is an estimate."))


@dataclass(frozen=True)
class LayerLoad:
    """What one layer asks of the cores: neurons, fan-in, local sources, stored weights, and its readers
    (layer name, whether any synapse from this layer into it is dense)."""

    name: str
    neurons: int
    fan_in: int
    local_sources: int
    synapse_bytes: int
    targets: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class LayerPlan:
    """A layer's cores from each limit, the binding limit, its input slices and its place (cores, chips)."""

    name: str
    cores_by_limit: dict[str, int]
    input_slices: int
    cores: int
    binding: str
    first_core: int
    chips: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"cores_by_limit": dict(self.cores_by_limit), "binding": self.binding,
                "input_slices": self.input_slices, "cores": self.cores,
                "core_range": [self.first_core, self.first_core + self.cores - 1], "chips": list(self.chips)}


@dataclass(frozen=True)
class ResourcePlan:
    """Every layer's plan in chain order, and the totals: cores used, chips, boards."""

    layers: tuple[LayerPlan, ...]
    cores: int
    chips: int
    boards: int
    limits: CoreLimits

    def largest(self, count: int = 3) -> list[LayerPlan]:
        """The layers with the most cores, most first."""
        return sorted(self.layers, key=lambda p: -p.cores)[:count]

    def describe_largest(self, count: int = 3) -> str:
        return "; ".join(f"%{p.name}: {p.cores} cores ({p.binding})" for p in self.largest(count))

    def to_json(self) -> dict[str, Any]:
        binding: dict[str, int] = {}
        for p in self.layers:
            binding[p.binding] = binding.get(p.binding, 0) + 1
        return {"cores": self.cores, "chips": self.chips, "boards": self.boards,
                "binding_layers": binding, "objective": OBJECTIVE, "limits": asdict(self.limits)}


OBJECTIVE = ("netx chain order kept, one layer per core; fewest chips under the rule that a layer that fits on one "
             "chip is never split across two (next-fit)")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def base_requirements(load: LayerLoad, limits: CoreLimits) -> tuple[dict[str, int], int]:
    """Cores from the neuron, synapse-memory and fan-in limits, and the number of input slices."""
    by_neurons = max(1, _ceil(load.neurons, limits.neurons_per_core))
    slices = max(1, _ceil(load.fan_in, limits.input_axons))
    fan_in = max(slices * by_neurons if slices > 1 else 1, _ceil(load.local_sources, limits.input_axons))
    return {"neurons": by_neurons, "synapse_memory": max(1, _ceil(load.synapse_bytes, limits.synaptic_memory_bytes)),
            "fan_in": fan_in}, slices


def destinations(dense: bool, target: dict[str, int]) -> int:
    """Cores of a target layer that one source neuron sends spikes to (see the module docstring)."""
    cores = max(target.values())
    return cores if dense else min(cores, target["synapse_memory"])


def plan(loads: Sequence[LayerLoad], limits: CoreLimits) -> ResourcePlan:
    """The resource plan of `loads` (in netx chain order): per-limit cores, then the placement."""
    base = {ld.name: base_requirements(ld, limits) for ld in loads}
    final: dict[str, dict[str, int]] = {}
    for ld in reversed(loads):  # readers come later in the chain: their cores are known first
        req = dict(base[ld.name][0])
        dest = sum(destinations(dense, final.get(t) or base[t][0]) for t, dense in ld.targets if t in base)
        req["fan_out"] = max(1, _ceil(ld.neurons * dest, limits.output_axons))
        final[ld.name] = req
    cores = [max(final[ld.name].values()) for ld in loads]
    placed = place(cores, limits.cores_per_chip)
    layers = tuple(
        LayerPlan(ld.name, {k: final[ld.name][k] for k in LIMIT_ORDER}, base[ld.name][1], k,
                  next(n for n in LIMIT_ORDER if final[ld.name][n] == k), first, chips)
        for ld, k, (first, chips) in zip(loads, cores, placed, strict=True))
    end = max((p.first_core + p.cores for p in layers), default=0)
    chips = _ceil(end, limits.cores_per_chip)
    return ResourcePlan(layers, sum(cores), chips, _ceil(chips, limits.chips_per_board), limits)


def place(cores: Sequence[int], cores_per_chip: int) -> list[tuple[int, tuple[int, ...]]]:
    """(first core, chip ids) of each layer placed in order by next-fit (see the module docstring)."""
    out, nxt = [], 0
    for k in cores:
        free = cores_per_chip - nxt % cores_per_chip
        if k > free and k <= cores_per_chip and free < cores_per_chip:
            nxt += free
        out.append((nxt, tuple(range(nxt // cores_per_chip, (nxt + k - 1) // cores_per_chip + 1))))
        nxt += k
    return out
