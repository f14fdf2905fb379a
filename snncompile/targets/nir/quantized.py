"""nir-dequantize: a Loihi-quantized graph back to float IR ops in real units (the scale ledger applied), for
the nir target's quantize="loihi" mode.

Per Loihi population p with per-neuron scale s (the real value of one integer step, the ledger), integer
weights W, bias b, threshold θ_int, voltage decay D (LoihiLIF, targets/loihi/ops.py), i_decay = 4096:
    synapse rows   W'[n, :] = W[n, :] · s[n]        (· e for synapses reading the encoded input, e = its scale)
    bias           b'[n]    = b[n] · s[n]           (on the first synapse of p)
    LIF            decay = 1 − D/4096,  θ = θ_int · s,  comparison ">",  reset zero,  gain 1
The pipeline is removed first (loihi numerics.compact: no hop delays, no scheduled resets, the readout window
from step 0), so the result is the zero-latency network with quantized parameters. Not represented (recorded
in the graph metadata): Lava's truncating integer decay, the 24-bit wrap and saturation, and the rounding and
clamping of graded input payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.ir.traits import WeightedSynapse
from snncompile.passes.base import Pass, PassContext
from snncompile.targets.loihi.ops import Encode, LoihiLIF, WindowReadout

NOT_REPRESENTED = ("Lava's truncating integer decay; 24-bit current wrap and voltage saturation; rounding and "
                   "clamping of graded input payloads (x_int = clamp(floor(x*scale + 1/2), low, high))")


RECOVERY = ("per population p and neuron n, scale s[n] = v_threshold[n] / loihi_v_threshold: integer weights "
            "W_int[n, :] = round(W[n, :] / s[n]) (also / input_encoding.scale for synapses reading the input), "
            "bias b_int[n] = round(b[n] / s[n]), vDecay = loihi_v_decay")


def _rows(scale: np.ndarray, syn: ir.Op) -> np.ndarray | None:
    """One factor per output row of `syn` (per neuron for Dense, per channel for Conv2d), or None."""
    flat = scale.reshape(scale.shape[0], -1)
    return None if np.any(flat != flat[:, :1]) and isinstance(syn, ir.Conv2d) else flat[:, 0]


def _population(p: LoihiLIF, shape: ir.Shape) -> tuple[ir.LIF, list[Diagnostic]]:
    problems = []
    if p.i_decay != 4096:
        problems.append(Diagnostic("SNC804", f"current decay iDecay {p.i_decay} with a voltage bias: the bias "
                                   "would pass through the synaptic filter in NIR", node=p.name,
                                   hint="use a neuron without synaptic current decay, or no bias"))
    theta = np.broadcast_to(p.threshold * p.scale, shape)
    lif = ir.LIF(p.name, tuple(ir.Edge(e.src) for e in p.inputs), p.origin,
                 decay=np.full(shape, 1.0 - p.v_decay / 4096), threshold=theta[None].copy())
    return lif, problems


def _encode_scale(graph: ir.Graph, name: str, encode: dict[str, Encode]) -> float:
    """e for a synapse reading the encoded input (directly or through a Flatten): x_int ≈ e·x."""
    src = graph.node(name).inputs[0].src
    if isinstance(graph.node(src), ir.Flatten):
        src = graph.node(src).inputs[0].src
    return encode[src].scale if src in encode else 1.0


@dataclass(frozen=True)
class NirDequantize(Pass):
    name = "nir-dequantize"
    summary = "Loihi fixed-point populations back to float LIF with real-unit weights (the scale ledger applied)"

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        from snncompile.targets.loihi.numerics import compact

        graph = compact(graph)
        shapes = graph.shapes
        encode = {n.name: n for n in graph.of_kind(Encode)}
        rows: dict[str, np.ndarray] = {}
        biases: dict[str, np.ndarray] = {}
        problems: list[Diagnostic] = []
        nodes: dict[str, ir.Op] = {}
        for p in graph.of_kind(LoihiLIF):
            nodes[p.name], found = _population(p, shapes[p.name])
            problems += found
            for k, e in enumerate(p.inputs):
                syn = graph.node(e.src)
                factor = _rows(np.broadcast_to(p.scale, shapes[p.name]), syn)
                if factor is None or not isinstance(syn, WeightedSynapse):
                    problems.append(Diagnostic("SNC804", f"synapse %{e.src} has no per-row scale", node=p.name,
                                               hint="only dense and conv synapses can carry the integer scales"))
                    continue
                rows[e.src] = factor
                if k == 0 and p.bias is not None and np.any(p.bias):
                    biases[e.src] = _rows(np.broadcast_to(p.bias * p.scale, shapes[p.name]), syn)  # type: ignore
        if problems:
            raise CompileError(problems)
        enc_scale = {name: _encode_scale(graph, name, encode) for name in rows}
        out = [self._node(n, nodes, rows, biases, encode, enc_scale) for n in graph.nodes if not isinstance(n, Encode)]
        ctx.note(f"dequantized {len(nodes)} populations and {len(rows)} synapses")
        meta = graph.metadata["loihi"]
        quant = {"target": "loihi", "ledger": meta.get("ledger"), "input_encoding": meta.get("input"),
                 "integers": RECOVERY, "not_represented": NOT_REPRESENTED}
        node_meta = {p.name: {"loihi_v_threshold": int(p.threshold), "loihi_v_decay": int(p.v_decay)}
                     for p in graph.of_kind(LoihiLIF)}
        return graph.with_nodes(out, nir_quantization=json.dumps(quant, default=str), nir_node_metadata=node_meta)

    @staticmethod
    def _node(n: ir.Op, nodes: dict[str, ir.Op], rows: dict[str, np.ndarray], biases: dict[str, np.ndarray],
              encode: dict[str, Encode], enc_scale: dict[str, float]) -> ir.Op:
        if n.name in nodes:
            return nodes[n.name]
        inputs = tuple(ir.Edge(encode[e.src].inputs[0].src, e.delay) if e.src in encode else e for e in n.inputs)
        if isinstance(n, WindowReadout):
            return ir.Readout(n.name, inputs, n.origin, weight=n.weight, bias=n.bias)
        if n.name not in rows:
            return n.replace(inputs=inputs) if inputs != n.inputs else n
        factor = rows[n.name] * enc_scale.get(n.name, 1.0)
        shape = (-1, 1) if isinstance(n, ir.Dense) else (-1, 1, 1, 1)
        return n.replace(inputs=inputs, weight=n.weight * factor.reshape(shape),  # type: ignore[attr-defined]
                         bias=biases.get(n.name))
