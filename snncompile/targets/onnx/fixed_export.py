"""One timestep of a Loihi fixed-point graph as an ONNX model in the target's integer arithmetic (float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.formats.onnx_naming import ARITHMETIC, INPUT_PREFIX, STATE_IN, STATE_OUT
from snncompile.targets.loihi.numerics import compact
from snncompile.targets.loihi.ops import Encode, LoihiLIF, SkipDense, WindowReadout
from snncompile.targets.onnx.builder import StepModelBuilder
from snncompile.targets.onnx.export import conv_matrices
from snncompile.targets.onnx.fixed_functions import (
    READOUT_MEAN,
    READOUT_WINDOW,
    encode_function,
    lif_function,
    readout_function,
    skip_function,
)
from snncompile.targets.onnx.functions import conv_function, pool_function


def jsonable(value: Any) -> Any:
    """Metadata as plain JSON values: mappings → dicts, tuples → lists, numpy scalars → Python numbers."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def refuse(node: ir.Op, message: str, hint: str | None = None) -> CompileError:
    return CompileError(Diagnostic("SNC950", message, node=node.name, origin=node.origin or None,
                                   hint=hint or "export graphs compiled for Loihi (target onnx-loihi or loihi)"))


class _FixedExporter(StepModelBuilder):
    def __init__(self, graph: ir.Graph) -> None:
        super().__init__(graph)
        self.emitters: dict[type[ir.Op], Callable[[Any, list[str]], None]] = {
            ir.Input: self.input, Encode: self.encode, ir.Dense: self.dense, ir.Conv2d: self.conv,
            ir.Flatten: self.flatten, ir.Pool2d: self.pool, SkipDense: self.skip, LoihiLIF: self.lif,
            WindowReadout: self.readout, ir.Readout: self.readout,
        }

    def param(self, node: ir.Op, field: str, value: Any, dtype: type = np.float64) -> str:
        return self.init(f"{node.name}:{field}", value, dtype)

    def output(self, name: str, shape: tuple[int | str, ...]) -> None:
        self.outputs.append(self.value(name, shape))

    def standard(self, op: str, node: ir.Op, inputs: list[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, [node.name], name=node.name, doc_string=node.origin, **attrs))

    def run(self) -> onnx.ModelProto:
        for node in self.graph.nodes:
            delayed = [e for e in node.inputs if e.delay]
            if delayed:
                raise refuse(node, f"edge from %{delayed[0].src} has delay {delayed[0].delay}; the ONNX step model "
                             "has no delay lines")
            emit = self.emitters.get(type(node))
            if emit is None:
                raise refuse(node, f"`{node.kind}` has no ONNX form in Loihi fixed-point arithmetic")
            emit(node, [e.src for e in node.inputs])
        return self.build("snncompile_loihi_step", {"arithmetic": ARITHMETIC, "outputs": list(self.graph.outputs),
                                                    "timesteps": self.graph.timesteps,
                                                    "metadata": jsonable(self.graph.metadata)})

    def input(self, node: ir.Input, srcs: list[str]) -> None:
        self.inputs.append(self.value(INPUT_PREFIX + node.name, ("batch", *node.shape)))
        self.standard("Identity", node, [INPUT_PREFIX + node.name])

    def encode(self, node: Encode, srcs: list[str]) -> None:
        args = [self.param(node, k, getattr(node, k)) for k in ("scale", "low", "high")]
        self.call(encode_function(), node, srcs + args, [node.name])

    def dense(self, node: ir.Dense, srcs: list[str]) -> None:
        if node.bias is not None:
            raise refuse(node, "a fixed-point dense synapse carries no bias (the neuron does)")
        self.standard("Gemm", node, [*srcs, self.param(node, "weight", node.weight)], transB=1)

    def flatten(self, node: ir.Flatten, srcs: list[str]) -> None:
        self.standard("Flatten", node, srcs, axis=1)

    def conv(self, node: ir.Conv2d, srcs: list[str]) -> None:
        if node.bias is not None:
            raise refuse(node, "a fixed-point conv synapse carries no bias (the neuron does)")
        co, cg, kh, kw = node.weight.shape
        fn = conv_function((cg * node.groups, co), self.shapes[node.name], (kh, kw), node.stride, node.padding,
                           node.dilation, node.groups, bias=False, wrap24=True)
        self.call(fn, node, [*srcs, self.param(node, "W", conv_matrices(node.weight, node.groups))], [node.name],
                  kernel_shape=[kh, kw], strides=list(node.stride), pads=list(node.padding),
                  dilations=list(node.dilation), group=node.groups)

    def pool(self, node: ir.Pool2d, srcs: list[str]) -> None:
        out = self.shapes[node.name]
        fn = pool_function(node.mode, (out[1], out[2]), node.kernel, node.stride, node.padding)
        self.call(fn, node, srcs, [node.name], mode=node.mode, kernel_shape=list(node.kernel),
                  strides=list(node.stride), pads=list(node.padding))

    def skip(self, node: SkipDense, srcs: list[str]) -> None:
        args = [self.param(node, "weight", node.weight), self.param(node, "shape", [-1, *node.shape], np.int64)]
        self.call(skip_function(), node, srcs + args, [node.name])

    def lif(self, node: LoihiLIF, srcs: list[str]) -> None:
        if node.period:
            raise refuse(node, f"population resets every {node.period} steps; the step model runs the compacted "
                         "graph (state zero at step 0 only)", hint="export compact(graph) (export_fixed_step does)")
        n, shape = node.name, self.shapes[node.name]
        bias = np.zeros(shape) if node.bias is None else node.bias
        args = [STATE_IN + n, self.param(node, "bias", bias), self.param(node, "scale", node.scale)]
        self.call(lif_function(len(srcs)), node, srcs + args, [n, STATE_OUT + n], threshold=int(node.threshold),
                  i_decay=int(node.i_decay), v_decay=int(node.v_decay), has_bias=int(node.bias is not None))
        self.inputs.append(self.value(STATE_IN + n, (2, "batch", *shape)))
        self.output(n, ("batch", *shape))
        self.output(STATE_OUT + n, (2, "batch", *shape))

    def readout(self, node: ir.Readout, srcs: list[str]) -> None:
        classes = node.weight.shape[0]
        bias = np.zeros(classes) if node.bias is None else node.bias
        args = [self.param(node, "weight", node.weight), self.param(node, "bias", bias)]
        attrs: dict[str, int] = {"has_bias": int(node.bias is not None)}
        if isinstance(node, WindowReadout):
            attrs |= {"start": int(node.start), "length": int(node.length)}
        prefix = READOUT_WINDOW if isinstance(node, WindowReadout) else READOUT_MEAN
        self.call(readout_function(prefix, len(srcs)), node, srcs + args, [node.name], **attrs)
        self.output(node.name, ("batch", classes))


def export_fixed_step(graph: ir.Graph) -> onnx.ModelProto:
    """The ONNX step model of a Loihi fixed-point graph, in its compacted form (numerics.compact: no hop delays,
    no resets after step 0, readout window from step 0), with Lava's integer arithmetic (truncating decays,
    one 24-bit current wrap, voltage saturation, int16 bias, 24-bit conv wrap) computed exactly in float64.

    Inputs: `x:<input>` [B, ..], `state:<lif>` [2, B, ..] (u, v; zeros at t = 0). Outputs: `<lif>` spikes,
    `state_next:<lif>` (fed back at t + 1), `<readout>` W x[t] + b (the driver averages it over the T steps).
    Over T = the graph's timesteps steps, onnx_driver.run_onnx reproduces simulate_loihi(graph, x, pipelined=False).
    """
    model = _FixedExporter(compact(graph)).run()
    onnx.checker.check_model(model, full_check=True)
    return model
