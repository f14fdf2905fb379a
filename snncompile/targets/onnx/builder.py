"""What both ONNX step exporters share: collecting nodes, initializers, functions and I/O, and the model itself."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from snncompile import ir
from snncompile.formats.onnx_naming import DOMAIN, METADATA_KEY
from snncompile.targets.onnx.functions import OPSET

IR_VERSION = 9


class StepModelBuilder:
    """The parts of one ONNX step model of `graph`, appended in graph order, then assembled by `build`."""

    def __init__(self, graph: ir.Graph) -> None:
        self.graph = graph
        self.shapes = graph.shapes
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.functions: dict[str, onnx.FunctionProto] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []

    def init(self, name: str, value: Any, dtype: type = np.float64) -> str:
        """Adds an initializer (C order, `dtype`); returns its name."""
        self.inits.append(numpy_helper.from_array(np.array(value, dtype=dtype, order="C"), name))
        return name

    @staticmethod
    def value(name: str, shape: tuple[int | str, ...]) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.DOUBLE, list(shape))

    def call(self, fn: onnx.FunctionProto, node: ir.Op, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        """A call of the snncompile-domain function `fn` for IR node `node` (the function is declared once)."""
        self.functions.setdefault(fn.name, fn)
        self.nodes.append(helper.make_node(fn.name, inputs, outputs, name=node.name, domain=DOMAIN,
                                           doc_string=node.origin, **attrs))

    def build(self, graph_name: str, meta: dict[str, Any]) -> onnx.ModelProto:
        """The model: every graph output not declared yet becomes a [batch, ..] output; `meta` is stored as the
        JSON metadata property `snncompile`."""
        declared = {o.name for o in self.outputs}
        self.outputs += [self.value(n, ("batch", *self.shapes[n])) for n in self.graph.outputs if n not in declared]
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, 1)],
                                  functions=[self.functions[k] for k in sorted(self.functions)],
                                  producer_name="snncompile")
        model.ir_version = IR_VERSION
        helper.set_model_props(model, {METADATA_KEY: json.dumps(meta, sort_keys=True)})
        return model
