"""Runs an IR graph over T timesteps on a batch, streamed in time chunks, recording the requested nodes.

Memory: the graph runs chunk by chunk (C frames at a time, C = `chunk` or chosen from a budget), so it holds
batch × C frames of the values still to be read in the current chunk, batch × one frame of every neuron's state,
`delay` frames per delayed edge, a readout's per-step [T, B, classes] values, plus the recorded nodes' [T, B, ...]
arrays (on the host). Conv and dense run batched over the C frames of a chunk.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from snncompile import ir
from snncompile.errors import InternalError, error
from snncompile.ir.traits import Output
from snncompile.sim.carry import Carry, OpImpl
from snncompile.sim.device import exact_device, resolve_device
from snncompile.sim.float_ops import FLOAT_OPS

CHUNK_BUDGET = 2**27
"""Bytes of one chunk's widest node value (batch × C × largest node × element size) that `chunk=None` aims for."""


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


def simulate(graph: ir.Graph, inputs: np.ndarray | torch.Tensor | Mapping[str, np.ndarray | torch.Tensor],
             *, dtype: torch.dtype = torch.float64, record: str | Collection[str] = "all",
             numerics: Mapping[type[ir.Op], OpImpl] = FLOAT_OPS, device: str | torch.device | None = None,
             chunk: int | None = None) -> SimResult:
    """Simulate `graph` on `inputs` ([T, B, *input_shape], or a dict per input node).

    record: "all" keeps every node, "neurons" keeps spiking layers and outputs, "outputs" only outputs, a
    collection of names those nodes and the outputs. device: "cpu" (default) or "cuda". chunk: frames per
    time chunk (None: as many as fit CHUNK_BUDGET; results do not depend on it, except float rounding of
    conv/dense batched differently). An impl that takes no Carry (op, xs) runs the whole sequence at once.
    """
    dev = resolve_device(device)
    input_nodes = graph.of_kind(ir.Input)
    if not isinstance(inputs, Mapping):
        if len(input_nodes) != 1:
            raise error("SNC205", f"graph has {len(input_nodes)} inputs; pass a dict of arrays by name",
                        hint="simulate(graph, {input_name: array, ...})")
        inputs = {input_nodes[0].name: inputs}
    data = {n.name: _check_input(n, inputs, dtype) for n in input_nodes}
    impls = _impls(graph, numerics)
    steps = max((x.shape[0] for x in data.values()), default=0)
    batch = max((x.shape[1] for x in data.values()), default=0)
    size = _chunk(graph, impls, steps, batch, dtype, chunk)
    keep = _recorded(graph, record)
    last_use = _last_uses(graph)
    carries = {n.name: Carry() for n in graph.nodes}
    buffers: dict[tuple[str, int], torch.Tensor] = {}
    recorded: dict[str, np.ndarray] = {}
    with torch.no_grad(), exact_device(dev):
        for t0 in range(0, max(steps, 1), max(size, 1)):
            t1 = min(steps, t0 + size)
            env: dict[str, torch.Tensor] = {}
            joined: dict[tuple[str, int], torch.Tensor] = {}
            for i, node in enumerate(graph.nodes):
                if isinstance(node, ir.Input):
                    env[node.name] = data[node.name][t0:t1].to(dev)
                else:
                    xs = [_delayed(env, buffers, joined, e, t1 - t0) for e in node.inputs]
                    carry = carries[node.name]
                    carry.t0 = t0
                    impl = impls[node.name]
                    env[node.name] = impl(node, xs, carry) if impl is not None else numerics[type(node)](node, xs)
                if node.name in keep:
                    _store(recorded, node, env[node.name], t0, steps)
                for e in node.inputs:  # memory holds the values still to be read, not every layer's sequence
                    if last_use.get(e.src) == i:
                        env.pop(e.src, None)
            for (src, delay), frames in joined.items():
                buffers[(src, delay)] = frames[frames.shape[0] - delay:].clone()
    return SimResult(recorded, graph.outputs)


def _impls(graph: ir.Graph, numerics: Mapping[type[ir.Op], OpImpl]) -> dict[str, OpImpl | None]:
    """Each computed node's impl when it streams (takes a Carry), else None; checks order and coverage."""
    computed: set[str] = set()
    impls: dict[str, OpImpl | None] = {}
    for node in graph.nodes:
        computed.add(node.name)
        if isinstance(node, ir.Input):
            continue
        impl = numerics.get(type(node))
        if impl is None:
            raise InternalError(f"the simulator has no implementation of `{node.kind}` (node %{node.name})")
        if any(e.src not in computed or e.src == node.name for e in node.inputs):
            raise InternalError(f"node %{node.name} reads a value computed later (recurrence is not "
                                "simulated yet)")
        impls[node.name] = impl if _streams(impl) else None
    return impls


def _streams(impl: OpImpl) -> bool:
    """True when the impl takes a third (Carry) argument: it can run chunk by chunk."""
    try:
        return len(inspect.signature(impl).parameters) >= 3
    except (TypeError, ValueError):
        return False


def _chunk(graph: ir.Graph, impls: Mapping[str, OpImpl | None], steps: int, batch: int, dtype: torch.dtype,
           chunk: int | None) -> int:
    if any(impl is None for impl in impls.values()):
        return max(steps, 1)  # an impl over whole sequences only: one chunk
    if chunk is not None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, not {chunk}")
        return chunk
    try:
        widest = max((int(np.prod(s)) for s in graph.shapes.values()), default=1)
    except ir.ShapeError:
        return max(steps, 1)  # shapes only known at run time (ill-shaped graphs fail in their op)
    per_frame = max(1, batch * widest * torch.empty((), dtype=dtype).element_size())
    return max(1, min(max(steps, 1), CHUNK_BUDGET // per_frame))


def _delayed(env: Mapping[str, torch.Tensor], buffers: dict[tuple[str, int], torch.Tensor],
             joined: dict[tuple[str, int], torch.Tensor], edge: ir.Edge, frames: int) -> torch.Tensor:
    """x[t − delay] over this chunk: the last `delay` frames of earlier chunks (zeros before t = 0), then this."""
    x = env[edge.src]
    if edge.delay == 0:
        return x
    key = (edge.src, edge.delay)
    if key not in joined:
        before = buffers.get(key)
        if before is None:
            before = torch.zeros((edge.delay, *x.shape[1:]), dtype=x.dtype, device=x.device)
        joined[key] = torch.cat([before, x])
    return joined[key][:frames]


def _store(recorded: dict[str, np.ndarray], node: ir.Op, value: torch.Tensor, t0: int, steps: int) -> None:
    host = value.detach().cpu().numpy()
    if isinstance(node, Output):  # a readout's value so far: the last chunk's is the result
        recorded[node.name] = host.copy()
        return
    if node.name not in recorded:
        recorded[node.name] = np.empty((steps, *host.shape[1:]), dtype=host.dtype)
    recorded[node.name][t0:t0 + host.shape[0]] = host


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
