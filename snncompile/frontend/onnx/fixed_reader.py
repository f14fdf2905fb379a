"""Reads snncompile's Loihi fixed-point ONNX step models (targets/onnx_fixed_export.py) back into the IR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.formats.onnx_naming import (
    ARITHMETIC,
    DOMAIN,
    ENCODE,
    INPUT_PREFIX,
    LIF_PREFIX,
    READOUT_MEAN,
    READOUT_WINDOW,
    SKIP,
    STATE_IN,
)
from snncompile.frontend.onnx.calls import conv_from_function, node_attributes, pool_from_function
from snncompile.frontend.onnx.metadata import snncompile_metadata
from snncompile.targets.loihi.ops import Encode, LoihiLIF, SkipDense, WindowReadout

# The writer's function builder is the reference a read function body must equal (naming lives in formats/).
from snncompile.targets.onnx.fixed_functions import canonical_function

Arrays = dict[str, np.ndarray]


def _fail(node: onnx.NodeProto, message: str) -> CompileError:
    return CompileError(Diagnostic("SNC951", f"ONNX node `{node.name}` ({node.domain or 'ai.onnx'}.{node.op_type}): "
                                   f"{message}", node=node.name or None, origin=node.doc_string or None,
                                   hint="only snncompile Loihi step models (target onnx-loihi) can be read back"))


def read_fixed_onnx(model: onnx.ModelProto | str | Path) -> ir.Graph:
    """The compacted fixed-point graph of an exported Loihi step model: Identity(x:..) → Input, Gemm → Dense,
    Flatten, snncompile.{Encode, Conv2d_*_wrap24, Pool2d_*, SkipDense, LoihiLIF_in*, ReadoutWindow_in*,
    ReadoutMean_in*} → their ops. Any other node, or a snncompile function whose body is not the one snncompile
    exports, raises SNC951 naming the node."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    meta = snncompile_metadata(proto) or {}
    if meta.get("arithmetic") != ARITHMETIC:
        raise CompileError(Diagnostic("SNC952", f"ONNX model is not an snncompile {ARITHMETIC} step model",
                                      hint="export it with --target onnx-loihi"))
    functions = {(f.domain, f.name): f for f in proto.functions}
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    shapes = {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:]) for i in proto.graph.input}
    nodes: list[ir.Op] = []
    for node in proto.graph.node:
        if node.domain == DOMAIN:
            _check_function(node, functions.get((node.domain, node.op_type)))
        try:
            nodes.append(_convert(node, inits, shapes))
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise _fail(node, f"arguments or attributes not as snncompile exports them ({exc!r})") from exc
    graph = ir.Graph(tuple(nodes), tuple(meta["outputs"]), meta["metadata"])
    ir.verify_or_raise(graph)
    return graph


def _check_function(node: onnx.NodeProto, fn: onnx.FunctionProto | None) -> None:
    expected = canonical_function(node.op_type)
    if expected is None:
        raise _fail(node, "snncompile function not known to this reader")
    if fn is None or fn.SerializeToString() != expected.SerializeToString():
        raise _fail(node, "the model's function body is not the one snncompile exports under this name")


def _convert(node: onnx.NodeProto, inits: Arrays, shapes: dict[str, tuple[int, ...]]) -> ir.Op:
    name, origin, attrs, op = node.name, node.doc_string, node_attributes(node), node.op_type
    data = [i for i in node.input if i not in inits and not i.startswith(STATE_IN)]
    edges = tuple(ir.Edge(s) for s in data)
    params = [inits[i] for i in node.input if i in inits]
    if node.domain in ("", "ai.onnx"):
        if op == "Identity" and len(node.input) == 1 and node.input[0].startswith(INPUT_PREFIX):
            return ir.Input(name, (), origin, shape=shapes[node.input[0]])
        if op == "Gemm" and attrs == {"transB": 1} and len(node.input) == 2 and len(params) == 1:
            return ir.Dense(name, edges, origin, weight=params[0])
        if op == "Flatten" and attrs.get("axis", 1) == 1:
            return ir.Flatten(name, edges, origin)
        raise _fail(node, "operator not supported by the snncompile Loihi ONNX reader")
    if node.domain != DOMAIN:
        raise _fail(node, f"unknown domain {node.domain!r}")
    return _convert_function(node, op, edges, params, attrs)


def _convert_function(node: onnx.NodeProto, op: str, edges: tuple[ir.Edge, ...], params: list[np.ndarray],
                      attrs: dict[str, Any]) -> ir.Op:
    name, origin = node.name, node.doc_string
    if op.startswith(LIF_PREFIX):
        bias, scale = params
        return LoihiLIF(name, edges, origin, threshold=int(attrs["threshold"]), i_decay=int(attrs["i_decay"]),
                        v_decay=int(attrs["v_decay"]), bias=bias if attrs["has_bias"] else None, scale=scale)
    if op.startswith((READOUT_WINDOW, READOUT_MEAN)):
        weight, bias = params
        kept = bias if attrs["has_bias"] else None
        if op.startswith(READOUT_MEAN):
            return ir.Readout(name, edges, origin, weight=weight, bias=kept)
        return WindowReadout(name, edges, origin, weight=weight, bias=kept, start=int(attrs["start"]),
                             length=int(attrs["length"]))
    if op == ENCODE:
        scale, low, high = params
        return Encode(name, edges, origin, scale=float(scale), low=int(low), high=int(high))
    if op == SKIP:
        weight, shape = params
        return SkipDense(name, edges, origin, weight=weight, shape=tuple(int(s) for s in shape[1:]))
    if op.startswith("Conv2d_") and op.endswith("_wrap24"):
        (matrices,) = params
        return conv_from_function(node, edges, matrices, None)
    if op.startswith("Pool2d_"):
        return pool_from_function(node, edges)
    raise _fail(node, "snncompile function not known to this reader")
