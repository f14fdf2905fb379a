"""Reads snncompile ONNX step models (targets/onnx_export.py) back into the IR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.targets.onnx_export import DOMAIN, INPUT_PREFIX

CMP = {"gt": ">", "ge": ">="}


def _fail(node: onnx.NodeProto, message: str) -> CompileError:
    return CompileError(Diagnostic("SNC951", f"ONNX node `{node.name}` ({node.domain or 'ai.onnx'}."
                                   f"{node.op_type}): {message}", node=node.name or None,
                                   hint="only snncompile step models (target onnx) can be read back"))


def read_onnx(model: onnx.ModelProto | str | Path) -> ir.Graph:
    """The IR graph of an exported step model: Identity(x:..) → Input, Gemm → Dense, Flatten, Sum → Add,
    snncompile.LIF_* → LIF, Conv2d*/Pool2d/Readout_* → their ops. Anything else raises SNC951."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    props = {p.key: p.value for p in proto.metadata_props}
    if "snncompile" not in props:
        raise CompileError(Diagnostic("SNC952", "ONNX model has no snncompile metadata",
                                      hint="export it with --target onnx"))
    meta = json.loads(props["snncompile"])
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    shapes = {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:]) for i in proto.graph.input}
    nodes: list[ir.Op] = []
    for node in proto.graph.node:
        nodes.append(_convert(node, inits, shapes))
    graph = ir.Graph(tuple(nodes), tuple(meta["outputs"]), {"timesteps": meta["timesteps"]})
    ir.verify_or_raise(graph)
    return graph


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pair(value: object) -> tuple[int, int]:
    a, b = value  # type: ignore[misc]
    return int(a), int(b)


def _convert(node: onnx.NodeProto, inits: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> ir.Op:
    name, origin = node.name, node.doc_string
    data = [i for i in node.input if i not in inits and not i.startswith("state:")]
    edges = tuple(ir.Edge(s) for s in data)
    attrs = _attrs(node)
    op = node.op_type
    if node.domain in ("", "ai.onnx"):
        if op == "Identity" and len(node.input) == 1 and node.input[0].startswith(INPUT_PREFIX):
            return ir.Input(name, (), origin, shape=shapes[node.input[0]])
        if op == "Gemm" and attrs.get("transB") == 1 and set(attrs) <= {"transB"} and node.input[1] in inits:
            bias = inits[node.input[2]] if len(node.input) > 2 else None
            return ir.Dense(name, edges, origin, weight=inits[node.input[1]], bias=bias)
        if op == "Flatten" and attrs.get("axis", 1) == 1:
            return ir.Flatten(name, edges, origin)
        if op == "Sum":
            return ir.Add(name, edges, origin)
        raise _fail(node, "operator not supported by the snncompile ONNX reader")
    if node.domain != DOMAIN:
        raise _fail(node, f"unknown domain {node.domain!r}")
    if op.startswith("LIF_in"):
        parts = op.split("_")
        n = len(data)
        rest = node.input[n + 1:]
        shape = tuple(inits[rest[0]].shape)
        gain = inits[rest[2]] if "gain" in parts else None
        return ir.LIF(name, edges, origin, decay=inits[rest[0]], threshold=inits[rest[1]].reshape(-1, *shape),
                      comparison=CMP[parts[2]], reset=parts[3], gain=gain)
    if op.startswith("Readout_in"):
        n = len(data)
        w = inits[node.input[n]].T
        bias = inits[node.input[n + 1]] if attrs.get("has_bias") else None
        return ir.Readout(name, edges, origin, weight=w, bias=bias)
    if op in ("Conv2d", "Conv2d_bias"):
        bias = inits[node.input[5]] if op == "Conv2d_bias" else None
        return ir.Conv2d(name, edges, origin, weight=inits[node.input[4]], bias=bias,
                         stride=_pair(attrs["strides"]), padding=_pair(attrs["pads"]),
                         dilation=_pair(attrs["dilations"]), groups=int(attrs["group"]))  # type: ignore[arg-type]
    if op == "Pool2d":
        mode = attrs["mode"]
        return ir.Pool2d(name, edges, origin, mode=mode.decode() if isinstance(mode, bytes) else str(mode),
                         kernel=_pair(attrs["kernel_shape"]), stride=_pair(attrs["strides"]),
                         padding=_pair(attrs["pads"]))
    raise _fail(node, "snncompile function not known to this reader")
