"""Runs an IR graph over T timesteps on a batch, node by node over whole sequences, recording every node."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from snncompile import ir
from snncompile.errors import InternalError, error
from snncompile.sim.float_ops import FLOAT_OPS, OpImpl


@dataclass
class SimResult:
    """Every recorded node's output: neurons and synapses as [T, B, ...], readouts as [B, classes]."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    @property
    def output(self) -> np.ndarray:
        return self.values[self.outputs[0]]


def _delayed(x: torch.Tensor, delay: int) -> torch.Tensor:
    if delay == 0:
        return x
    shifted = torch.zeros_like(x)
    if delay < x.shape[0]:
        shifted[delay:] = x[: x.shape[0] - delay]
    return shifted


def simulate(graph: ir.Graph, inputs: np.ndarray | torch.Tensor | Mapping[str, np.ndarray | torch.Tensor],
             *, dtype: torch.dtype = torch.float64, record: str | Collection[str] = "all",
             numerics: Mapping[type[ir.Op], OpImpl] = FLOAT_OPS) -> SimResult:
    """Simulate `graph` on `inputs` ([T, B, *input_shape], or a dict per input node).

    record: "all" keeps every node, "neurons" keeps spiking layers and outputs, "outputs" only outputs, a
    collection of names those nodes and the outputs. A value is freed once its last reader has run, so memory
    holds the recorded nodes plus the few sequences still to be read.
    """
    input_nodes = graph.of_kind(ir.Input)
    if not isinstance(inputs, Mapping):
        if len(input_nodes) != 1:
            raise error("SNC205", f"graph has {len(input_nodes)} inputs; pass a dict of arrays by name",
                        hint="simulate(graph, {input_name: array, ...})")
        inputs = {input_nodes[0].name: inputs}
    env: dict[str, torch.Tensor] = {}
    result = SimResult(outputs=graph.outputs)
    keep = _recorded(graph, record)
    last_use = _last_uses(graph)
    computed: set[str] = set()
    with torch.no_grad():
        for i, node in enumerate(graph.nodes):
            if isinstance(node, ir.Input):
                env[node.name] = _check_input(node, inputs, dtype)
            else:
                impl = numerics.get(type(node))
                if impl is None:
                    raise InternalError(f"the simulator has no implementation of `{node.kind}` (node %{node.name})")
                if any(e.src not in computed for e in node.inputs):
                    raise InternalError(f"node %{node.name} reads a value computed later (recurrence is not "
                                        "simulated yet)")
                env[node.name] = impl(node, [_delayed(env[e.src], e.delay) for e in node.inputs])
            computed.add(node.name)
            if node.name in keep:
                result.values[node.name] = env[node.name].cpu().numpy()
            for e in node.inputs:  # memory holds the values still to be read, not every layer's sequence
                if last_use.get(e.src) == i:
                    env.pop(e.src, None)
    return result


def _last_uses(graph: ir.Graph) -> dict[str, int]:
    """For every node read by another, the position of its last reader in graph order (outputs: never freed)."""
    last = {e.src: i for i, node in enumerate(graph.nodes) for e in node.inputs}
    for name in graph.outputs:
        last.pop(name, None)
    return last


def _check_input(node: ir.Input, inputs: Mapping[str, np.ndarray | torch.Tensor],
                 dtype: torch.dtype) -> torch.Tensor:
    if node.name not in inputs:
        raise error("SNC205", f"no data given for input %{node.name}", node=node.name,
                    hint="pass an array for every Input node, keyed by its name")
    data = inputs[node.name]
    # a copy: recorded results (identity nodes, the input itself) must not alias the caller's array
    x = data.detach().to(dtype, copy=True) if isinstance(data, torch.Tensor) \
        else torch.tensor(np.asarray(data), dtype=dtype)
    if x.dim() < 2 or tuple(x.shape[2:]) != tuple(node.shape):
        raise error("SNC204", f"input data has shape {list(x.shape)}, expected [T, B, "
                    f"{', '.join(map(str, node.shape))}]", node=node.name, origin=node.origin,
                    hint="inputs are [T, B, *input_shape] (see report.json input_shape)")
    return x


def _recorded(graph: ir.Graph, record: str | Collection[str]) -> set[str]:
    if record == "all":
        return {n.name for n in graph.nodes}
    keep = set(graph.outputs)
    if not isinstance(record, str):
        return keep | set(record)
    if record == "neurons":
        keep |= {n.name for n in graph.of_kind(ir.LIF, ir.MPBNLIF)}
    elif record != "outputs":
        raise ValueError(f"record must be all, neurons or outputs, not {record!r}")
    return keep
