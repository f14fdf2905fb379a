"""One timestep of a float IR graph as an ONNX model, neuron state and delay lines as explicit inputs/outputs.

Naming convention (formats/onnx_naming.py, also read by targets/onnx/driver.py and frontend/onnx/):
    x:<input>                    data input [B, ..] of Input node <input>
    state:<n> → state_next:<n>   neuron state of node <n>: LIF [K, B, ..] (one row per level),
                                 LIFExt [S, B, ..] (row 0 the membrane v, row 1 the synaptic current i)
    delay:<n> → delay_next:<n>   delay line of node <n> [D, B, ..]: row d−1 holds <n>'s output of step t − d
    <n>@<d>                      the tap x_n[t − d] (a Gather of delay:<n>) read by an edge with delay d
    <n>                          a neuron's spikes / a readout's per-step value, named as the IR node
Every graph input other than x:<..> starts at zeros (shape as declared, "batch" the batch size); the
model's metadata key `snncompile` holds JSON {"format", "arithmetic", "outputs", "timesteps"}.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.formats.onnx_naming import (
    DELAY_IN,
    DELAY_OUT,
    DOMAIN,
    FLOAT_ARITHMETIC,
    FORMAT,
    INPUT_PREFIX,
    STATE_IN,
    STATE_OUT,
)
from snncompile.ir.ops_ext import LIFExt
from snncompile.targets.onnx.builder import StepModelBuilder
from snncompile.targets.onnx.functions import (
    OPSET,
    conv_function,
    delay_line_function,
    lif_ext_function,
    lif_function,
    lif_function_name,
    linear_function,
    pool_function,
)

__all__ = ["OPSET", "export_step", "lif_function", "lif_function_name", "linear_function", "tap_name"]


def tap_name(src: str, delay: int) -> str:
    """Name of the tensor x_src[t − delay] in the step model."""
    return f"{src}@{delay}"


def conv_matrices(weight: np.ndarray, groups: int) -> np.ndarray:
    """W [Co, Ci/g, kh, kw] → [kh·kw, g, Ci/g, Co/g]: the channel matrix of each kernel offset and group."""
    co, cig, kh, kw = weight.shape
    w = np.asarray(weight).reshape(groups, co // groups, cig, kh, kw)
    return np.ascontiguousarray(w.transpose(3, 4, 0, 2, 1).reshape(kh * kw, groups, cig, co // groups))


class _Exporter(StepModelBuilder):
    def __init__(self, graph: ir.Graph) -> None:
        super().__init__(graph)
        self.depth: dict[str, int] = {}
        for n in graph.nodes:
            for e in n.inputs:
                if e.delay:
                    self.depth[e.src] = max(self.depth.get(e.src, 0), e.delay)
        self.taps: set[str] = set()

    def run(self) -> onnx.ModelProto:
        for node in self.graph.nodes:
            srcs = [self.tap(e) for e in node.inputs]
            self.emit(node, srcs)
            if node.name in self.depth:
                self.delay_line(node)
        return self.build("snncompile_step", {"format": FORMAT, "arithmetic": FLOAT_ARITHMETIC,
                                              "outputs": list(self.graph.outputs), "timesteps": self.graph.timesteps})

    def tap(self, edge: ir.Edge) -> str:
        """The tensor an edge reads: the source itself, or x_src[t − d] from its delay line."""
        if not edge.delay:
            return edge.src
        name = tap_name(edge.src, edge.delay)
        if name not in self.taps:
            self.taps.add(name)
            index = self.init(f"{name}.index", np.array(edge.delay - 1), np.int64)
            self.nodes.append(helper.make_node("Gather", [DELAY_IN + edge.src, index], [name], name=name, axis=0))
        return name

    def delay_line(self, node: ir.Op) -> None:
        n = node.name
        shape: tuple[int | str, ...] = (self.depth[node.name], "batch", *self.shapes[node.name])
        self.functions.setdefault("DelayLine", delay_line_function())
        self.nodes.append(helper.make_node("DelayLine", [n, DELAY_IN + n], [DELAY_OUT + n], name=f"{n}.delay",
                                           domain=DOMAIN))
        self.inputs.append(self.value(DELAY_IN + n, shape))
        self.outputs.append(self.value(DELAY_OUT + n, shape))

    def emit(self, node: ir.Op, srcs: list[str]) -> None:
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
        elif type(node) is ir.MaxPool2d:
            self.nodes.append(helper.make_node(
                "MaxPool", srcs, [name], name=name, doc_string=node.origin, kernel_shape=list(node.kernel),
                strides=list(node.stride), pads=list(node.padding) * 2, dilations=list(node.dilation), ceil_mode=0))
        elif type(node) is ir.Conv2d:
            self.conv(node, srcs)
        elif type(node) is ir.Pool2d:
            out = self.shapes[name]
            fn = pool_function(node.mode, (out[1], out[2]), node.kernel, node.stride, node.padding)
            self.call(fn, node, srcs, [name], mode=node.mode, kernel_shape=list(node.kernel),
                      strides=list(node.stride), pads=list(node.padding))
        elif type(node) is ir.LIF:
            self.lif(node, srcs)
        elif type(node) is LIFExt:
            self.lif_ext(node, srcs)
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
        n, out = node.name, self.shapes[node.name]
        co, cig, kh, kw = node.weight.shape
        fn = conv_function((cig * node.groups, co), out, (kh, kw), node.stride, node.padding, node.dilation,
                           node.groups, node.bias is not None)
        args = [self.init(f"{n}.W", conv_matrices(node.weight, node.groups))]
        if node.bias is not None:
            args.append(self.init(f"{n}.bias", np.asarray(node.bias).reshape(-1, 1, 1)))
        self.call(fn, node, srcs + args, [n], kernel_shape=[kh, kw], strides=list(node.stride),
                  pads=list(node.padding), dilations=list(node.dilation), group=node.groups)

    def lif(self, node: ir.LIF, srcs: list[str]) -> None:
        n = node.name
        shape = self.shapes[n]
        fn = lif_function(len(srcs), node.comparison, node.reset, node.gain is not None)
        theta = np.array(node.threshold).reshape(node.levels, 1, *node.threshold.shape[1:])  # [K, batch, granular]
        args = [STATE_IN + n, self.init(f"{n}.decay", node.decay), self.init(f"{n}.threshold", theta)]
        if node.gain is not None:
            args.append(self.init(f"{n}.gain", node.gain))
        self.call(fn, node, srcs + args, [n, STATE_OUT + n])
        self.neuron_values(n, (node.levels, "batch", *shape))

    def lif_ext(self, node: LIFExt, srcs: list[str]) -> None:
        n, syn, gain = node.name, node.syn_decay is not None, node.gain is not None
        fn = lif_ext_function(len(srcs), node.comparison, node.reset, node.reset_timing, syn, gain)
        args = [STATE_IN + n, self.init(f"{n}.decay", node.decay), self.init(f"{n}.threshold", node.threshold)]
        if syn:
            args.append(self.init(f"{n}.syn_decay", node.syn_decay))
        if gain:
            args.append(self.init(f"{n}.gain", node.gain))
        self.call(fn, node, srcs + args, [n, STATE_OUT + n])
        self.neuron_values(n, (2 if syn else 1, "batch", *self.shapes[n]))

    def neuron_values(self, n: str, state: tuple[int | str, ...]) -> None:
        self.inputs.append(self.value(STATE_IN + n, state))
        self.outputs += [self.value(n, state[1:]), self.value(STATE_OUT + n, state)]


def export_step(graph: ir.Graph) -> onnx.ModelProto:
    """The ONNX step model of a float graph (Input, Dense, Conv2d, Pool2d, MaxPool2d, Flatten, Add, LIF, LIFExt,
    Readout; edges with any delay). Inputs/outputs as in the module docstring; a readout's output is the
    per-step W x[t] + b [B, classes], which the host averages over T (ir.Readout = mean_t)."""
    model = _Exporter(graph).run()
    onnx.checker.check_model(model, full_check=True)
    return model
