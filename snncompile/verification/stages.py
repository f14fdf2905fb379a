"""Verification stages: each runs the network one way and returns every neuron layer's spikes, time-aligned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.errors import InternalError
from snncompile.ir.traits import Neuron, float_neurons
from snncompile.passes.lower_mlf import level_name
from snncompile.sim.carry import Carry
from snncompile.sim.float_ops import FLOAT_OPS, OpImpl
from snncompile.sim.interpreter import simulate
from snncompile.verification.check import align_calls, model_outputs


@dataclass(frozen=True)
class Layer:
    """A neuron layer of the traced graph: what every stage reports on, keyed by the traced node name."""

    name: str
    origin: str
    shape: tuple[int, ...]
    levels: int

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))

    @property
    def label(self) -> str:
        return self.origin or self.name


def neuron_layers(traced: ir.Graph) -> list[Layer]:
    """Every neuron node of the traced graph, in topological order."""
    return [Layer(n.name, n.origin, tuple(traced.shapes[n.name]), int(getattr(n, "levels", 1)))
            for n in float_neurons(traced)]


@dataclass
class StageOutput:
    """One chunk's result: spikes [T, B, *shape] per layer name (zero-latency time), readout logits [B, K]."""

    spikes: dict[str, np.ndarray]
    logits: np.ndarray | None
    dtype: torch.dtype = torch.float64
    events: dict[str, dict[str, int]] = field(default_factory=dict)
    populations: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Every population of the graph (MLF levels, max-pool OR populations too): (spikes, decisions) seen."""
    not_recorded: dict[str, str] = field(default_factory=dict)
    """Layers this stage could not record, with the reason."""


@dataclass
class Stage:
    """A way of running the network. `exact`: expected to match the previous stage spike for spike."""

    name: str
    description: str
    exact: bool = True

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        raise NotImplementedError


@dataclass
class TorchStage(Stage):
    """The user's PyTorch model, neuron modules recorded by forward hooks on their module paths."""

    model: nn.Module | None = None
    layers: list[Layer] = field(default_factory=list)
    layout: str = "tb"  # the model's input layout (graph metadata `input_layout`)

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        if self.model is None:
            raise InternalError(f"stage {self.name} has no model")
        calls, y, used = model_outputs(self.model, torch.from_numpy(x), {la.origin for la in self.layers},
                                       self.layout)
        nodes = [(la.name, la.origin, la.shape) for la in self.layers]
        recorded, reasons = align_calls(calls, nodes, int(x.shape[0]), int(x.shape[1]))
        spikes = {name: np.asarray(ref, np.float64) for name, ref in recorded.items()}
        return StageOutput(spikes, scores(np.asarray(y, np.float64)), used, not_recorded=reasons)


def scores(output: np.ndarray, over_time: str | None = None) -> np.ndarray | None:
    """Class scores [B, K] of a network output: a readout's logits [B, K] as they are, or a per-step output
    [T, B, K] reduced over time as the model reduces it (`over_time`, the graph's `output_over_time`: "mean"),
    by default summed (spike counts: argmax of spike counts, as snntorch classifiers are scored); None
    otherwise."""
    if output.ndim == 2:
        return output
    if output.ndim == 3:
        return output.mean(0) if over_time == "mean" else output.sum(0)
    return None




def graph_members(graph: ir.Graph, layers: list[Layer]) -> dict[str, tuple[str, ...]]:
    """For each layer, the populations of `graph` whose outputs sum to it: the node of the same name, or
    its lowered MLF levels. Layers the graph does not hold are left out."""
    found: dict[str, tuple[str, ...]] = {}
    for la in layers:
        if la.name in graph and not isinstance(graph.node(la.name), ir.Add):
            found[la.name] = (la.name,)
            continue
        names = tuple(level_name(la.name, k) for k in range(la.levels))
        if la.levels > 1 and all(n in graph for n in names):
            found[la.name] = names
    return found


@dataclass
class GraphStage(Stage):
    """An IR graph run by the simulator with some numerics. A pipelined graph (latency L) gets L extra zero
    frames; each population's spikes are shifted back by its pipeline depth (its `phase`)."""

    graph: ir.Graph | None = None
    layers: list[Layer] = field(default_factory=list)
    numerics: Mapping[type[ir.Op], OpImpl] = field(default_factory=lambda: FLOAT_OPS)
    latency: int = 0
    count_events: bool = False

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        if self.graph is None:
            raise InternalError(f"stage {self.name} has no graph")
        members = graph_members(self.graph, self.layers)
        pops = [n.name for n in self.graph.nodes if isinstance(n, Neuron)]
        wanted = [n for names in members.values() for n in names] + pops
        probe = ir.Graph(self.graph.nodes, tuple(dict.fromkeys((*self.graph.outputs, *wanted))),
                         self.graph.metadata)
        frames = x if not self.latency else np.concatenate([x, np.zeros((self.latency, *x.shape[1:]))])
        events: dict[str, dict[str, int]] = {}
        numerics = counting_numerics(self.numerics, events) if self.count_events else self.numerics
        result = simulate(probe, frames, record="outputs", numerics=numerics,
                          dtype=torch.float64 if self.count_events else dtype)
        window = {n: self._window(result[n], n, x.shape[0]) for n in dict.fromkeys(wanted)}
        spikes = {layer: sum(window[n] for n in names) for layer, names in members.items()}
        out = result[self.graph.outputs[0]]
        if out.ndim > 2 and isinstance(self.graph.node(self.graph.outputs[0]), Neuron):
            out = self._window(out, self.graph.outputs[0], x.shape[0])  # spike outputs: the T valid steps
        logits = scores(out, self.graph.metadata.get("output_over_time"))
        per_layer = {la: _merge(events, names) for la, names in members.items() if any(n in events for n in names)}
        counts = {n: (float(window[n].sum()), int(window[n].size)) for n in pops}
        return StageOutput(spikes, logits, dtype, per_layer, counts)  # type: ignore[arg-type]

    def _window(self, values: np.ndarray, name: str, steps: int) -> np.ndarray:
        """A population's T valid steps: a pipelined graph's population sees step 0 at its depth (phase)."""
        phase = int(getattr(self.graph.node(name), "phase", 0)) if self.latency else 0  # type: ignore[union-attr]
        return values[phase:phase + steps]


def _merge(events: dict[str, dict[str, int]], names: tuple[str, ...]) -> dict[str, int]:
    total: dict[str, int] = {}
    for n in names:
        for k, v in events.get(n, {}).items():
            total[k] = total.get(k, 0) + v
    return total


def counting_numerics(numerics: Mapping[type[ir.Op], OpImpl], events: dict[str, dict[str, int]]
                      ) -> dict[type[ir.Op], OpImpl]:
    """Loihi numerics whose integer LIF also counts current wraps and voltage saturations per population."""
    from snncompile.targets.loihi.ops import LoihiLIF

    lif = numerics[LoihiLIF]

    def counted(op: LoihiLIF, xs: list[torch.Tensor], carry: Carry | None = None) -> torch.Tensor:
        carry = carry or Carry()
        carry.slots.setdefault("events", events.setdefault(op.name, {"wraps": 0, "saturations": 0}))
        return lif(op, xs, carry)

    return {**numerics, LoihiLIF: counted}
