"""Reading a lowered graph as Loihi sees it: populations, their synapses and sources, layers, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass

from snncompile import ir
from snncompile.errors import Diagnostic
from snncompile.ir.traits import Synapse
from snncompile.targets.loihi.ops import Encode, LoihiLIF

POPULATIONS: tuple[type[ir.Op], ...] = (ir.LIF, LoihiLIF)
"""The Neuron ops Loihi runs (its CUBA model): a choice of this target, not a category."""
SYNAPSES: tuple[type, ...] = (Synapse,)
"""What a Loihi population accepts as an input: every Synapse op (Dense, Conv2d, sum/avg Pool2d)."""
SOURCES: tuple[type[ir.Op], ...] = (*POPULATIONS, ir.Input, Encode)
"""What a synapse may read: a population's spikes or the (encoded) network input."""


def diag(code: str, node: ir.Op | None, message: str, hint: str | None = None,
         severity: str = "error") -> Diagnostic:
    """A diagnostic about `node` (its name and PyTorch origin)."""
    name = None if node is None else node.name
    origin = None if node is None else (node.origin or None)
    return Diagnostic(code, message, node=name, origin=origin, hint=hint, severity=severity)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SynapticInput:
    """One input of a population: the edge from its synapse op, the synapse, and the node it reads
    (a population or the input), possibly through a Flatten."""

    edge: ir.Edge
    synapse: ir.Op
    source: str
    flatten: ir.Op | None = None

    @property
    def delay(self) -> int:
        """Delays already on the path source → synapse → population."""
        inner = self.flatten.inputs[0].delay if self.flatten is not None else 0
        return self.edge.delay + self.synapse.inputs[0].delay + inner


def synaptic_inputs(graph: ir.Graph, pop: ir.Op, diags: list[Diagnostic]) -> list[SynapticInput]:
    """Every input of `pop` as a SynapticInput; problems are appended to `diags`."""
    found = []
    for e in pop.inputs:
        syn = graph.node(e.src)
        if not isinstance(syn, SYNAPSES):
            diags.append(diag("SNC601", pop, f"input %{e.src} ({syn.kind}) is not a synapse op",
                              "Loihi neurons take synaptic input only; run lower-residual first"))
            continue
        src = graph.node(syn.inputs[0].src)
        flatten = None
        if isinstance(src, ir.Flatten) and isinstance(syn, ir.Dense):
            flatten, src = src, graph.node(src.inputs[0].src)
        if not isinstance(src, SOURCES):
            diags.append(diag("SNC601", syn, f"synapse reads %{src.name} ({src.kind}), not a population or the "
                              "input", "every synapse must read spikes of a population or the network input"))
            continue
        found.append(SynapticInput(e, syn, src.name, flatten))
    return found


def host_source(graph: ir.Graph, edge: ir.Edge) -> str | None:
    """The population or input behind a chain of stateless host ops (Flatten, Pool2d, Dense) feeding a
    readout; None when the chain branches or contains anything else."""
    node = graph.node(edge.src)
    while not isinstance(node, SOURCES):
        if not isinstance(node, (ir.Flatten, ir.Pool2d, ir.Dense)) or len(node.inputs) != 1:
            return None
        node = graph.node(node.inputs[0].src)
    return node.name


def layers_of(graph: ir.Graph) -> list[list[str]]:
    """The netx layers (populations stacked into one layer) in chain order, from the schedule metadata."""
    return [list(layer) for layer in graph.metadata["loihi"]["layers"]]


def positions(graph: ir.Graph) -> dict[str, int]:
    """Pipeline depth of every population (its netx chain index) and of the input (0)."""
    pos = {n.name: 0 for n in graph.nodes if isinstance(n, (ir.Input, Encode))}
    for i, layer in enumerate(layers_of(graph), start=1):
        pos.update({name: i for name in layer})
    return pos
