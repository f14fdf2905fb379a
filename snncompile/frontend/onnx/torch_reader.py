"""Reads an ONNX export of a PyTorch step module (x, state) → (spikes, next state) into the IR.

The user writes one timestep with standard layers and an LIF in torch operations, per neuron layer:

    h = decay * v + drive                  # drive: a layer output, or a sum of them (synaptic fan-in)
    s = (h > theta).to(h.dtype)            # or >=, or .float(); decay and theta scalars or tensors
    v_next = h * (1 - s)                   # reset zero;  h - theta * s: subtract;  h: none

and exports it with torch.onnx.export(module, (x, v1, v2, ..), path, dynamo=False,
input_names=["x:<input>", "state:<lif1>", ..], output_names=["<lif1>", "state_next:<lif1>", ..]).
Naming convention: data inputs `x:<name>`; state inputs `state:<lif>` [B, ..] paired with the output
`state_next:<lif>`; a neuron's spikes named `<lif>`. Without `state:` names the reader falls back to
structure: graph inputs multiplied by a constant in a membrane sum are states, the others data, and the
next state is whichever output matches a reset form. A non-spike output made by a Linear layer becomes
an ir.Readout (the host averages its per-step value over T).

Layers: Gemm / MatMul (+ Add of a constant bias) → Dense, Conv → Conv2d, Flatten / Reshape to [B, -1]
→ Flatten, MaxPool → MaxPool2d, AveragePool → Pool2d, Add / Sum of layer outputs → fan-in or Add,
Identity / Dropout pass through. Anything else raises SNC951 naming the node (all problems at once).
The IR sums fan-in as decay·v + (x1 + x2 + ..): a module written as (decay·v + x1) + x2 is read as the
same network but rounds differently in float.
"""

from __future__ import annotations

import onnx

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.frontend.onnx.patterns import (
    COMPARISONS,
    STATE_IN,
    STATE_OUT,
    Index,
    LifMatch,
    diagnostic,
    match_lif,
)
from snncompile.frontend.onnx.torch_layers import Converter


def match_torch_onnx(proto: onnx.ModelProto) -> tuple[Index, dict[str, LifMatch]]:
    """The graph index and every LIF pattern, by spike tensor (diagnostics collected in the index)."""
    ix = Index(proto)
    named = any(name.startswith(STATE_IN) for name in ix.inputs)
    lifs: dict[str, LifMatch] = {}
    for node in ix.nodes:
        if node.op_type in COMPARISONS and node.domain in ("", "ai.onnx"):
            lif = match_lif(ix, node, named, len(lifs))
            if lif is not None:
                lifs[lif.spike] = lif
    used = {lif.state for lif in lifs.values()} | ix.failed
    for name in ix.inputs:
        if name.startswith(STATE_IN) and name not in used:
            ix.diags.append(diagnostic(None, f"state input `{name}` is not the v of any LIF pattern "
                                       "(h = decay·v + drive; s = (h > θ).to(dtype))"))
    return ix, lifs


def state_pairs(lifs: dict[str, LifMatch]) -> dict[str, str]:
    """Recurrent input → the output that feeds it at the next step."""
    return {lif.state: lif.next_state for lif in lifs.values() if lif.state and lif.next_state}


def read_torch_onnx(proto: onnx.ModelProto, timesteps: int | None = None) -> ir.Graph:
    """The IR graph of a PyTorch step-module export (see the module docstring for the pattern)."""
    ix, lifs = match_torch_onnx(proto)
    conv = Converter(ix, lifs, {n for n in ix.inputs if all(n != lif.state for lif in lifs.values())})
    outputs = []
    nexts = {lif.next_state for lif in lifs.values()}
    nexts |= {o for o in ix.outputs if o.startswith(STATE_OUT) and STATE_IN + o[len(STATE_OUT):] in ix.failed}
    for out in ix.outputs:
        if out not in nexts:
            name = conv.tensor(out)
            if name is not None:
                outputs.append(conv.readout(name, out))
    if not ix.diags:  # otherwise unclaimed nodes are mostly the inputs of a pattern that failed
        ix.diags += [diagnostic(node, "not part of any recognised layer or neuron pattern")
                     for node in ix.nodes if id(node) not in ix.claimed and node.op_type != "Constant"]
    if not outputs and not ix.diags:
        ix.diags.append(diagnostic(None, "the model has no spike or readout output"))
    if ix.diags:
        raise CompileError(ix.diags)
    graph = ir.Graph(tuple(conv.ops), tuple(outputs), {} if timesteps is None else {"timesteps": timesteps})
    ir.verify_or_raise(graph)
    return graph
