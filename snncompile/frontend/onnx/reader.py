"""Reads ONNX step models into the IR: dispatches on metadata, and reads snncompile's own float models."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.formats.onnx_naming import ARITHMETIC, DELAY_IN, DOMAIN, INPUT_PREFIX
from snncompile.frontend.onnx.calls import conv_from_function, node_attributes, pair, pool_from_function
from snncompile.frontend.onnx.fixed_reader import read_fixed_onnx
from snncompile.frontend.onnx.metadata import snncompile_metadata
from snncompile.frontend.onnx.torch_reader import read_torch_onnx
from snncompile.ir.ops_ext import LIFExt

CMP = {"gt": ">", "ge": ">="}


def load_proto(model: onnx.ModelProto | str | os.PathLike[str]) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    try:
        return onnx.load(str(model))
    except Exception as exc:
        raise CompileError(Diagnostic("SNC952", f"{model} is not a readable ONNX file: {type(exc).__name__}: "
                                      f"{exc}", hint="check the path; the file must be an ONNX ModelProto")) from None


def read_onnx(model: onnx.ModelProto | str | os.PathLike[str], timesteps: int | None = None) -> ir.Graph:
    """The IR graph of an ONNX step model. snncompile float models (metadata key `snncompile`) are read
    back exactly; models with `"arithmetic": "loihi-fixed"` go to the integer reader; models without our
    metadata (a PyTorch step module exported with explicit state) go to the pattern reader
    (frontend/onnx/torch_reader.py). `timesteps` overrides the model's T. Unsupported nodes raise SNC951."""
    proto = load_proto(model)
    props = {p.key: p.value for p in proto.metadata_props}
    meta = snncompile_metadata(proto)
    if (meta or props).get("arithmetic") == ARITHMETIC:
        return read_fixed_onnx(proto)
    if meta is None:
        return read_torch_onnx(proto, timesteps)
    graph = _read_own(proto, meta)
    return graph if timesteps is None else graph.with_nodes(graph.nodes, timesteps=timesteps)


def _fail(node: onnx.NodeProto, message: str) -> Diagnostic:
    return Diagnostic("SNC951", f"ONNX node `{node.name}` ({node.domain or 'ai.onnx'}.{node.op_type}): {message}",
                      node=node.name or None, hint="only snncompile step models (target onnx) and the PyTorch "
                      "step-module pattern (frontend/onnx/torch_reader.py) can be read back")


def _read_own(proto: onnx.ModelProto, meta: dict[str, object]) -> ir.Graph:
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    shapes = {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:]) for i in proto.graph.input}
    taps: dict[str, ir.Edge] = {}
    nodes: list[ir.Op] = []
    problems: list[Diagnostic] = []
    for node in proto.graph.node:
        if node.op_type == "Gather" and node.domain == "" and node.input[0].startswith(DELAY_IN):
            taps[node.output[0]] = ir.Edge(node.input[0][len(DELAY_IN):], int(inits[node.input[1]]) + 1)
        elif node.op_type == "DelayLine" and node.domain == DOMAIN:
            continue  # the shift register of a node's output: implied by the edges that read its taps
        else:
            try:
                nodes.append(_convert(node, inits, shapes, taps))
            except CompileError as exc:
                problems += exc.diagnostics
    if problems:
        raise CompileError(problems)
    steps = meta.get("timesteps")
    graph = ir.Graph(tuple(nodes), tuple(meta["outputs"]), {"timesteps": steps})  # type: ignore[arg-type]
    ir.verify_or_raise(graph)
    return graph


def _fan_in(op: str) -> int:
    """n from a function name `<Kind>_in<n>_...`."""
    return int(op.split("_")[1][2:])


def _convert(node: onnx.NodeProto, inits: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
             taps: dict[str, ir.Edge]) -> ir.Op:
    name, origin, op, attrs = node.name, node.doc_string, node.op_type, node_attributes(node)

    def edges(n: int) -> tuple[ir.Edge, ...]:
        return tuple(taps.get(s, ir.Edge(s)) for s in node.input[:n])

    if node.domain in ("", "ai.onnx"):
        if op == "Identity" and len(node.input) == 1 and node.input[0].startswith(INPUT_PREFIX):
            return ir.Input(name, (), origin, shape=shapes[node.input[0]])
        if op == "Gemm" and attrs == {"transB": 1} and node.input[1] in inits:
            bias = inits[node.input[2]] if len(node.input) > 2 else None
            return ir.Dense(name, edges(1), origin, weight=inits[node.input[1]], bias=bias)
        if op == "Flatten" and attrs.get("axis", 1) == 1:
            return ir.Flatten(name, edges(1), origin)
        if op == "Sum":
            return ir.Add(name, edges(len(node.input)), origin)
        if op == "MaxPool":
            return ir.MaxPool2d(name, edges(1), origin, kernel=pair(attrs["kernel_shape"]),
                                stride=pair(attrs["strides"]), padding=pair(attrs["pads"]),
                                dilation=pair(attrs["dilations"]))
        raise CompileError(_fail(node, "operator not supported by the snncompile ONNX reader"))
    if node.domain != DOMAIN:
        raise CompileError(_fail(node, f"unknown domain {node.domain!r}"))
    if op.startswith("LIF_in"):
        parts, n = op.split("_"), _fan_in(op)
        decay, theta = inits[node.input[n + 1]], inits[node.input[n + 2]]
        gain = inits[node.input[n + 3]] if "gain" in parts else None
        return ir.LIF(name, edges(n), origin, decay=decay, threshold=theta.reshape(theta.shape[0], *theta.shape[2:]),
                      comparison=CMP[parts[2]], reset=parts[3], gain=gain)
    if op.startswith("LIFExt_in"):
        parts, n = op.split("_"), _fan_in(op)
        rest = [inits[i] for i in node.input[n + 1:]]
        syn = rest[2] if "syn" in parts else None
        gain = rest[-1] if "gain" in parts else None
        return LIFExt(name, edges(n), origin, decay=rest[0], threshold=rest[1], syn_decay=syn, gain=gain,
                      comparison=CMP[parts[2]], reset=parts[3], reset_timing=parts[4])
    if op.startswith("Readout_in"):
        n = _fan_in(op)
        bias = inits[node.input[n + 1]] if attrs.get("has_bias") else None
        return ir.Readout(name, edges(n), origin, weight=inits[node.input[n]].T, bias=bias)
    if op.startswith("Conv2d_"):
        bias = inits[node.input[2]].reshape(-1) if op.endswith("_bias") else None
        return conv_from_function(node, edges(1), inits[node.input[1]], bias)
    if op.startswith("Pool2d_"):
        return pool_from_function(node, edges(1))
    raise CompileError(_fail(node, "snncompile function not known to this reader"))
