"""Layer patterns of PyTorch ONNX exports → IR ops (Dense, Conv2d, Flatten, pooling, Add, LIF, Input)."""

from __future__ import annotations

from typing import cast

import numpy as np
import onnx

from snncompile import ir
from snncompile.formats.onnx_naming import INPUT_PREFIX
from snncompile.frontend.onnx.patterns import Index, LifMatch, attr, diagnostic

SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Constant", "Reshape")


def _pair(node: onnx.NodeProto, name: str, default: list[int]) -> tuple[int, int]:
    a, b = cast("list[int]", attr(node, name, default))  # an ints attribute
    return int(a), int(b)


class Converter:
    """Converts tensors to IR nodes on demand (memoized, topological by construction)."""

    def __init__(self, ix: Index, lifs: dict[str, LifMatch], data_inputs: set[str]) -> None:
        self.ix, self.lifs, self.data_inputs = ix, lifs, data_inputs
        self.ops: list[ir.Op] = []
        self.shapes: dict[str, ir.Shape] = {}
        self.names: dict[str, str | None] = {}

    def add(self, op: ir.Op) -> str | None:
        try:
            self.shapes[op.name] = op.infer_shape([self.shapes[e.src] for e in op.inputs])
        except (ir.ShapeError, ValueError) as exc:
            node = next((n for n in self.ix.nodes if n.name and n.name == op.origin), None)
            self.ix.diags.append(diagnostic(node, f"`{op.kind}` {op.name}: shapes do not fit: {exc}"))
            return None
        self.ops.append(op)
        return op.name

    def unique(self, base: str) -> str:
        name, k = base or "node", 1
        while name in self.shapes:
            k += 1
            name = f"{base}_{k}"
        return name

    def layer_name(self, node: onnx.NodeProto) -> str:
        """`/fc/Gemm` → fc (the module path), `/Add_1` → Add_1."""
        parts = [p for p in (node.name or node.output[0]).split("/") if p]
        return self.unique(".".join(parts[:-1]) if len(parts) > 1 else (parts[0] if parts else node.op_type))

    def tensor(self, t: str) -> str | None:
        """The IR node computing tensor t (None after a diagnostic)."""
        if t not in self.names:
            self.names[t] = None  # guards against revisiting a failed tensor
            self.names[t] = self._convert(t)
        return self.names[t]

    def readout(self, name: str, output: str) -> str:
        """A graph output made by a Dense no other node reads becomes a Readout (mean over T), named as the
        output when that name is free."""
        op = next(o for o in self.ops if o.name == name)
        if type(op) is ir.Dense and not any(e.src == name for o in self.ops for e in o.inputs):
            new = output if output not in self.shapes else name
            self.shapes[new] = self.shapes[name]
            self.ops[self.ops.index(op)] = ir.Readout(new, op.inputs, op.origin, weight=op.weight, bias=op.bias)
            return new
        return name

    def _convert(self, t: str) -> str | None:
        ix = self.ix
        if t in self.data_inputs:
            dims = [d.dim_value if d.HasField("dim_value") else None for d in ix.inputs[t].type.tensor_type.shape.dim]
            if len(dims) < 2 or None in dims[1:]:
                ix.diags.append(diagnostic(None, f"data input `{t}` needs a static shape [batch, ...], has {dims}"))
                return None
            shape = tuple(d for d in dims[1:] if d is not None)  # all set (checked above)
            return self.add(ir.Input(self.unique(t.removeprefix(INPUT_PREFIX)), (), t, shape=shape))
        if t in self.lifs:
            return self._lif(self.lifs[t])
        if t in ix.failed:
            return None  # a neuron pattern already diagnosed
        node = ix.producer.get(t)
        if node is None:
            ix.diags.append(diagnostic(None, f"tensor `{t}` is a constant or an unknown input where a layer "
                                       "output was expected"))
            return None
        ix.claim(node)
        handler = getattr(self, f"_op_{node.op_type}", None)
        if handler is None or node.domain not in ("", "ai.onnx"):
            ix.diags.append(diagnostic(node, "operator not supported by the PyTorch-pattern ONNX reader"))
            return None
        return handler(node)

    def _inputs(self, tensors: list[str]) -> tuple[ir.Edge, ...] | None:
        srcs = [self.tensor(s) for s in tensors]
        return None if None in srcs else tuple(ir.Edge(s) for s in srcs)  # type: ignore[arg-type]

    def _param(self, value: np.ndarray, shape: ir.Shape, what: str, lif: LifMatch) -> np.ndarray | None:
        v = np.asarray(value, dtype=np.float64)
        if v.ndim > len(shape) and all(d == 1 for d in v.shape[: v.ndim - len(shape)]):
            v = v.reshape(v.shape[v.ndim - len(shape):])  # a leading batch axis of 1
        try:
            return np.array(np.broadcast_to(v, shape))
        except ValueError:
            self.ix.diags.append(diagnostic(self.ix.producer.get(lif.spike), f"{what} of LIF `{lif.name}` has "
                                            f"shape {list(v.shape)}, not broadcastable to {list(shape)}"))
            return None

    def _lif(self, lif: LifMatch) -> str | None:
        edges = self._inputs(lif.drive)
        if edges is None:
            return None
        shape = self.shapes[edges[0].src]
        params = [self._param(lif.decay, shape, "decay", lif), self._param(lif.theta, shape, "threshold", lif),
                  None if lif.gain is None else self._param(lif.gain, shape, "gain", lif)]
        if params[0] is None or params[1] is None or (lif.gain is not None and params[2] is None):
            return None
        return self.add(ir.LIF(self.unique(lif.name), edges, lif.origin, decay=params[0],
                               threshold=params[1][None], comparison=lif.comparison, reset=lif.reset,
                               gain=params[2]))

    def _op_Identity(self, node: onnx.NodeProto) -> str | None:
        return self.tensor(node.input[0])

    _op_Dropout = _op_Identity

    def _op_Gemm(self, node: onnx.NodeProto) -> str | None:
        w = self.ix.const(node.input[1])
        bias = self.ix.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if w is None or attr(node, "alpha", 1.0) != 1.0 or attr(node, "beta", 1.0) != 1.0 or attr(node, "transA", 0):
            self.ix.diags.append(diagnostic(node, "only y = x·Wᵀ + b with a constant W (nn.Linear) is read"))
            return None
        return self._dense(node, node.input[0], w if attr(node, "transB", 0) else w.T, bias)

    def _op_MatMul(self, node: onnx.NodeProto, bias: np.ndarray | None = None) -> str | None:
        w = self.ix.const(node.input[1])
        if w is None or w.ndim != 2:
            self.ix.diags.append(diagnostic(node, "only x·W with a constant 2-D W (nn.Linear) is read"))
            return None
        return self._dense(node, node.input[0], w.T, bias)

    def _dense(self, node: onnx.NodeProto, x: str, w: np.ndarray, bias: np.ndarray | None) -> str | None:
        edges = self._inputs([x])
        if edges is None:
            return None
        b = None if bias is None else np.broadcast_to(bias, (w.shape[0],)).astype(np.float64)
        return self.add(ir.Dense(self.layer_name(node), edges, node.name, weight=w.astype(np.float64), bias=b))

    def _op_Add(self, node: onnx.NodeProto) -> str | None:
        consts = [self.ix.const(i) for i in node.input]
        for k in (0, 1):
            mm = self.ix.op(node.input[k], "MatMul")
            if consts[1 - k] is not None and mm is not None and self.ix.single_use(node.input[k]):
                self.ix.claim(mm)
                return self._op_MatMul(mm, bias=consts[1 - k])
        if any(c is not None for c in consts):
            self.ix.diags.append(diagnostic(node, "adds a constant that is not a Linear bias (no IR op adds "
                                            "constants; fold it into a bias)"))
            return None
        edges = self._inputs(self.ix.add_terms(node.output[0]))
        return None if edges is None else self.add(ir.Add(self.layer_name(node), edges, node.name))

    def _op_Sum(self, node: onnx.NodeProto) -> str | None:
        edges = self._inputs(list(node.input))
        return None if edges is None else self.add(ir.Add(self.layer_name(node), edges, node.name))

    def _op_Conv(self, node: onnx.NodeProto) -> str | None:
        w = self.ix.const(node.input[1])
        bias = self.ix.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        pads = attr(node, "pads", [0, 0, 0, 0])
        if w is None or w.ndim != 4 or attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") \
                or pads[:2] != pads[2:]:  # type: ignore[index]
            self.ix.diags.append(diagnostic(node, "only 2-D convolutions with a constant kernel and symmetric "
                                            "explicit padding (nn.Conv2d) are read"))
            return None
        edges = self._inputs([node.input[0]])
        if edges is None:
            return None
        return self.add(ir.Conv2d(self.layer_name(node), edges, node.name, weight=w, bias=bias,
                                  stride=_pair(node, "strides", [1, 1]), padding=(int(pads[0]), int(pads[1])),  # type: ignore[index]
                                  dilation=_pair(node, "dilations", [1, 1]), groups=int(attr(node, "group", 1))))  # type: ignore[call-overload]

    def _op_Flatten(self, node: onnx.NodeProto) -> str | None:
        if attr(node, "axis", 1) != 1:
            self.ix.diags.append(diagnostic(node, "only flatten from axis 1 (keeping the batch axis) is read"))
            return None
        edges = self._inputs([node.input[0]])
        return None if edges is None else self.add(ir.Flatten(self.layer_name(node), edges, node.name))

    def _op_Reshape(self, node: onnx.NodeProto) -> str | None:
        """x.view(B, -1) / reshape(-1, n): a target shape [batch, -1] or [-1 | batch, n] (n the sample size),
        constant or computed as Concat(batch, [-1 | n])."""
        edges = self._inputs([node.input[0]])
        if edges is None:
            return None
        n = int(np.prod(self.shapes[edges[0].src]))
        const, cat = self.ix.const(node.input[1]), self.ix.op(node.input[1], "Concat")
        last = None if cat is None or len(cat.input) != 2 else self.ix.const(cat.input[1])
        if const is not None and const.size == 2:
            ok = (const[1] == -1 and const[0] not in (-1, 0)) or const[1] == n
        else:
            ok = last is not None and last.size == 1 and int(last[0]) in (-1, n)
        if not ok:
            self.ix.diags.append(diagnostic(node, "only a reshape to [batch, -1] (a flatten) is read"))
            return None
        self._claim_shape_chain(node.input[1])
        return self.add(ir.Flatten(self.layer_name(node), edges, node.name))

    def _claim_shape_chain(self, tensor: str) -> None:
        node = self.ix.producer.get(tensor)
        if node is not None and node.op_type in SHAPE_OPS and id(node) not in self.ix.claimed:
            self.ix.claim(node)
            for i in node.input[1:] if node.op_type == "Reshape" else node.input:
                if node.op_type != "Shape":
                    self._claim_shape_chain(i)

    def _pool(self, node: onnx.NodeProto) -> tuple[tuple[ir.Edge, ...], dict[str, object]] | None:
        pads = attr(node, "pads", [0, 0, 0, 0])
        if attr(node, "ceil_mode", 0) or pads[:2] != pads[2:] or len(attr(node, "kernel_shape", [])) != 2:  # type: ignore[index, arg-type]
            self.ix.diags.append(diagnostic(node, "only 2-D pooling, floor mode, symmetric padding is read"))
            return None
        edges = self._inputs([node.input[0]])
        return None if edges is None else (edges, {"kernel": _pair(node, "kernel_shape", [1, 1]),
                                                   "stride": _pair(node, "strides", [1, 1]),
                                                   "padding": (int(pads[0]), int(pads[1]))})  # type: ignore[index]

    def _op_MaxPool(self, node: onnx.NodeProto) -> str | None:
        got = self._pool(node)
        return None if got is None else self.add(ir.MaxPool2d(self.layer_name(node), got[0], node.name,
                                                              dilation=_pair(node, "dilations", [1, 1]), **got[1]))  # type: ignore[arg-type]

    def _op_AveragePool(self, node: onnx.NodeProto) -> str | None:
        got = self._pool(node)
        if got is not None and got[1]["padding"] != (0, 0) and not attr(node, "count_include_pad", 0):
            self.ix.diags.append(diagnostic(node, "padded average pooling must count the padding "
                                            "(count_include_pad=True)"))
            return None
        return None if got is None else self.add(ir.Pool2d(self.layer_name(node), got[0], node.name, mode="avg",
                                                           **got[1]))  # type: ignore[arg-type]
