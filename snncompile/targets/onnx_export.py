"""One timestep of a float IR graph as an ONNX model, neuron state as explicit inputs/outputs."""

from __future__ import annotations

import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic

DOMAIN = "snncompile"
OPSET = 18
INPUT_PREFIX = "x:"
STATE_IN = "state:"
STATE_OUT = "state_next:"
DOUBLE = TensorProto.DOUBLE


def lif_function_name(fan_in: int, comparison: str, reset: str, gain: bool) -> str:
    """Name encoding one LIF variant: LIF_in<n>_<gt|ge>_<reset>[_gain]."""
    return f"LIF_in{fan_in}_{'gt' if comparison == '>' else 'ge'}_{reset}" + ("_gain" if gain else "")


def _fan_in(nodes: list[onnx.NodeProto], n: int) -> str:
    """Appends x = ((x0 + x1) + x2) ... (left to right, the simulator's order); returns its name."""
    total = "x0"
    for i in range(1, n):
        nodes.append(helper.make_node("Add", [total, f"x{i}"], [f"xs{i}"]))
        total = f"xs{i}"
    return total


def lif_function(fan_in: int, comparison: str, reset: str, gain: bool) -> onnx.FunctionProto:
    """ir.LIF one step, standard operators only. Inputs x0..x{n-1} [B,..], v [K,B,..], decay [..],
    theta [K,1,..] (+ gain [..]); outputs s [B,..] and v' [K,B,..]:
        x = Σ_i x_i;  h = decay·v + (gain·)x;  c = [h > θ] (or ≥);  s_k = c
        v' = h·(1 − c) | h − θ·c | h;  s = Σ_k c_k
    """
    nodes: list[onnx.NodeProto] = []
    x = _fan_in(nodes, fan_in)
    if gain:
        nodes.append(helper.make_node("Mul", ["gain", x], ["drive"]))
        x = "drive"
    nodes += [helper.make_node("Mul", ["decay", "v"], ["dv"]),
              helper.make_node("Add", ["dv", x], ["h"]),
              helper.make_node("Greater" if comparison == ">" else "GreaterOrEqual", ["h", "theta"], ["c"]),
              helper.make_node("CastLike", ["c", "h"], ["sk"])]
    if reset == "zero":
        nodes += [helper.make_node("Constant", [], ["one0"], value_float=1.0),
                  helper.make_node("CastLike", ["one0", "h"], ["one"]),
                  helper.make_node("Sub", ["one", "sk"], ["keep"]),
                  helper.make_node("Mul", ["h", "keep"], ["v_next"])]
    elif reset == "subtract":
        nodes += [helper.make_node("Mul", ["theta", "sk"], ["ts"]), helper.make_node("Sub", ["h", "ts"], ["v_next"])]
    else:
        nodes.append(helper.make_node("Identity", ["h"], ["v_next"]))
    nodes += [helper.make_node("Constant", [], ["axes"], value_ints=[0]),
              helper.make_node("ReduceSum", ["sk", "axes"], ["s"], keepdims=0)]
    inputs = [f"x{i}" for i in range(fan_in)] + ["v", "decay", "theta"] + (["gain"] if gain else [])
    return helper.make_function(DOMAIN, lif_function_name(fan_in, comparison, reset, gain), inputs,
                                ["s", "v_next"], nodes, [helper.make_opsetid("", OPSET)])


def linear_function(name: str, fan_in: int, extra: tuple[str, ...] = ()) -> onnx.FunctionProto:
    """A synapse by an unrolled matrix: y = reshape(flatten(Σ_i x_i) · M + b, shape). Inputs x0..,
    M [in, out], b [out], shape (int64), then `extra` inputs (kept for reading back, unused by the body)."""
    nodes: list[onnx.NodeProto] = []
    x = _fan_in(nodes, fan_in)
    nodes += [helper.make_node("Flatten", [x], ["flat"], axis=1),
              helper.make_node("MatMul", ["flat", "M"], ["mm"]),
              helper.make_node("Add", ["mm", "b"], ["yb"]),
              helper.make_node("Reshape", ["yb", "shape"], ["y"])]
    inputs = [f"x{i}" for i in range(fan_in)] + ["M", "b", "shape", *extra]
    return helper.make_function(DOMAIN, name, inputs, ["y"], nodes, [helper.make_opsetid("", OPSET)])


def _unrolled(fn: object, in_shape: tuple[int, ...]) -> np.ndarray:
    """M [in, out] with flatten(fn(x)) = flatten(x) · M, by applying fn to every basis vector."""
    n = int(np.prod(in_shape))
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *in_shape)
    with torch.no_grad():
        return fn(basis).reshape(n, -1).numpy()  # type: ignore[operator]


class _Exporter:
    def __init__(self, graph: ir.Graph) -> None:
        self.graph = graph
        self.shapes = graph.shapes
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.functions: dict[str, onnx.FunctionProto] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []

    def init(self, name: str, value: np.ndarray, dtype: type = np.float64) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def value(self, name: str, shape: tuple[int | str, ...]) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, DOUBLE, list(shape))

    def call(self, fn: onnx.FunctionProto, node: ir.Op, inputs: list[str], outputs: list[str],
             **attrs: object) -> None:
        self.functions.setdefault(fn.name, fn)
        self.nodes.append(helper.make_node(fn.name, inputs, outputs, name=node.name, domain=DOMAIN,
                                           doc_string=node.origin, **attrs))

    def run(self) -> onnx.ModelProto:
        for node in self.graph.nodes:
            bad = [e for e in node.inputs if e.delay]
            if bad:
                raise CompileError(Diagnostic("SNC950", f"edge from %{bad[0].src} has delay {bad[0].delay}; the "
                                              "ONNX step model has no delay lines", node=node.name,
                                              origin=node.origin or None))
            self.emit(node)
        meta = {"outputs": list(self.graph.outputs), "timesteps": self.graph.timesteps}
        graph = helper.make_graph(self.nodes, "snncompile_step", self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                        helper.make_opsetid(DOMAIN, 1)],
                                  functions=[self.functions[k] for k in sorted(self.functions)],
                                  producer_name="snncompile")
        model.ir_version = 9
        helper.set_model_props(model, {"snncompile": json.dumps(meta, sort_keys=True)})
        return model

    def emit(self, node: ir.Op) -> None:
        srcs = [e.src for e in node.inputs]
        name = node.name
        if isinstance(node, ir.Input):
            self.inputs.append(self.value(INPUT_PREFIX + name, ("batch", *node.shape)))
            self.nodes.append(helper.make_node("Identity", [INPUT_PREFIX + name], [name], name=name,
                                               doc_string=node.origin))
        elif type(node) is ir.Dense:
            args = [srcs[0], self.init(f"{name}.weight", node.weight)]
            if node.bias is not None:
                args.append(self.init(f"{name}.bias", node.bias))
            self.nodes.append(helper.make_node("Gemm", args, [name], name=name, transB=1, doc_string=node.origin))
        elif type(node) is ir.Flatten:
            self.nodes.append(helper.make_node("Flatten", srcs, [name], name=name, axis=1, doc_string=node.origin))
        elif type(node) is ir.Add:
            self.nodes.append(helper.make_node("Sum", srcs, [name], name=name, doc_string=node.origin))
        elif type(node) is ir.Conv2d:
            self.conv(node, srcs)
        elif type(node) is ir.Pool2d:
            self.pool(node, srcs)
        elif type(node) is ir.LIF:
            self.lif(node, srcs)
        elif type(node) is ir.Readout:
            fn = linear_function(f"Readout_in{len(srcs)}", len(srcs))
            bias = np.zeros(node.weight.shape[0]) if node.bias is None else node.bias
            args = [self.init(f"{name}.M", node.weight.T), self.init(f"{name}.bias", bias),
                    self.init(f"{name}.shape", np.array([-1, node.weight.shape[0]]), np.int64)]
            self.call(fn, node, srcs + args, [name], has_bias=int(node.bias is not None))
            self.outputs.append(self.value(name, ("batch", node.weight.shape[0])))
        else:
            raise CompileError(Diagnostic("SNC950", f"`{node.kind}` has no ONNX step form", node=name,
                                          origin=node.origin or None,
                                          hint="compile with the float pipeline (target onnx) first"))

    def conv(self, node: ir.Conv2d, srcs: list[str]) -> None:
        in_shape = self.shapes[srcs[0]]
        out_shape = self.shapes[node.name]
        w = torch.from_numpy(np.array(node.weight))
        m = _unrolled(lambda x: F.conv2d(x, w, None, node.stride, node.padding, node.dilation, node.groups),
                      in_shape)
        bias = np.zeros(out_shape) if node.bias is None else np.broadcast_to(
            node.bias[:, None, None], out_shape)
        n = node.name
        extra = [self.init(f"{n}.weight", node.weight)] + \
            ([self.init(f"{n}.bias", node.bias)] if node.bias is not None else [])
        fn = linear_function("Conv2d" if node.bias is None else "Conv2d_bias", 1,
                             ("kernel",) + (("bias",) if node.bias is not None else ()))
        args = [self.init(f"{n}.M", m), self.init(f"{n}.b", bias.reshape(-1)),
                self.init(f"{n}.shape", np.array([-1, *out_shape]), np.int64)]
        self.call(fn, node, srcs + args + extra, [n], strides=list(node.stride), pads=list(node.padding),
                  dilations=list(node.dilation), group=node.groups)

    def pool(self, node: ir.Pool2d, srcs: list[str]) -> None:
        in_shape = self.shapes[srcs[0]]
        out_shape = self.shapes[node.name]
        div = 1 if node.mode == "sum" else None
        m = _unrolled(lambda x: F.avg_pool2d(x, node.kernel, node.stride, node.padding, count_include_pad=True,
                                             divisor_override=div), in_shape)
        n = node.name
        args = [self.init(f"{n}.M", m), self.init(f"{n}.b", np.zeros(int(np.prod(out_shape)))),
                self.init(f"{n}.shape", np.array([-1, *out_shape]), np.int64)]
        self.call(linear_function("Pool2d", 1), node, srcs + args, [n], mode=node.mode,
                  kernel_shape=list(node.kernel), strides=list(node.stride), pads=list(node.padding))

    def lif(self, node: ir.LIF, srcs: list[str]) -> None:
        n = node.name
        shape = self.shapes[n]
        fn = lif_function(len(srcs), node.comparison, node.reset, node.gain is not None)
        theta = np.array(node.threshold).reshape(node.levels, 1, *shape)
        args = [STATE_IN + n, self.init(f"{n}.decay", node.decay), self.init(f"{n}.threshold", theta)]
        if node.gain is not None:
            args.append(self.init(f"{n}.gain", node.gain))
        self.call(fn, node, srcs + args, [n, STATE_OUT + n])
        self.inputs.append(self.value(STATE_IN + n, (node.levels, "batch", *shape)))
        self.outputs += [self.value(n, ("batch", *shape)), self.value(STATE_OUT + n, (node.levels, "batch", *shape))]


def export_step(graph: ir.Graph) -> onnx.ModelProto:
    """The ONNX step model of a float graph (Input, Dense, Conv2d, Pool2d, Flatten, Add, LIF, Readout).

    Inputs: `x:<input>` [B, ..] per Input node, `state:<lif>` [K, B, ..] per LIF (zeros at t = 0).
    Outputs: `<lif>` spikes [B, ..] and `state_next:<lif>` per LIF (fed back at t + 1); `<readout>` the
    per-step W x[t] + b [B, classes], which the host averages over T (ir.Readout = mean_t).
    """
    model = _Exporter(graph).run()
    onnx.checker.check_model(model, full_check=True)
    return model
