"""Pattern matching in ONNX graphs exported from PyTorch step modules: graph index and the LIF subgraph."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from snncompile.errors import Diagnostic
from snncompile.formats.onnx_naming import STATE_IN, STATE_OUT

COMPARISONS = {"Greater": ">", "GreaterOrEqual": ">="}
FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)
HINT = ("write the step module as h = decay*v + drive; s = (h > theta).to(h.dtype); v_next = h*(1-s) | "
        "h - theta*s | h, with standard layers (Linear, Conv2d, flatten, pooling, +); see "
        "snncompile/frontend/onnx/torch_reader.py")


def diagnostic(node: onnx.NodeProto | None, message: str, hint: str = HINT) -> Diagnostic:
    """SNC951 naming the ONNX node and its operator type."""
    where = "" if node is None else f"ONNX node `{node.name or node.output[0]}` ({node.domain or 'ai.onnx'}." \
        f"{node.op_type}): "
    return Diagnostic("SNC951", where + message, node=None if node is None else (node.name or node.output[0]),
                      hint=hint)


def attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    """A node attribute's value (ints as Python ints, lists as lists), or `default`."""
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


class Index:
    """Producers, consumers, constants (initializers and Constant nodes) and the nodes claimed by a pattern."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        g = proto.graph
        self.nodes = list(g.node)
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for n in g.node:
            for i in n.input:
                self.consumers[i].append(n)
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.inputs = {i.name: i for i in g.input if i.name not in self.inits}
        self.outputs = [o.name for o in g.output]
        self.claimed: set[int] = set()
        self.diags: list[Diagnostic] = []
        self.failed: set[str] = set()  # state inputs and spikes of LIF patterns already diagnosed

    def claim(self, *nodes: onnx.NodeProto | None) -> None:
        self.claimed.update(id(n) for n in nodes if n is not None)

    def op(self, tensor: str, *types: str) -> onnx.NodeProto | None:
        node = self.producer.get(tensor)
        return node if node is not None and node.op_type in types and node.domain in ("", "ai.onnx") else None

    def const(self, tensor: str) -> np.ndarray | None:
        """The value of a constant tensor (claiming the Constant/Identity nodes that make it), else None."""
        if tensor in self.inits:
            return self.inits[tensor].astype(np.float64) if self.inits[tensor].dtype.kind == "f" \
                else self.inits[tensor]
        node = self.op(tensor, "Constant", "Identity")
        if node is None:
            return None
        if node.op_type == "Identity":
            value = self.const(node.input[0])
        else:
            attr = {a.name: a for a in node.attribute}
            value = numpy_helper.to_array(attr["value"].t) if "value" in attr else None
            if value is not None and value.dtype.kind == "f":
                value = value.astype(np.float64)
        if value is not None:
            self.claim(node)
        return value

    def single_use(self, tensor: str) -> bool:
        return len(self.consumers[tensor]) == 1 and tensor not in self.outputs

    def add_terms(self, tensor: str, top: bool = True) -> list[str]:
        """Operands of a tree of Adds, left to right (interior sums used only by the tree), claiming the Adds."""
        node = self.op(tensor, "Add")
        if node is None or not (top or self.single_use(tensor)) or any(self.const(i) is not None
                                                                          for i in node.input):
            return [tensor]
        self.claim(node)
        return self.add_terms(node.input[0], False) + self.add_terms(node.input[1], False)


@dataclass
class LifMatch:
    """One LIF found around a comparison node (shapes still as exported: broadcastable constants)."""

    name: str
    spike: str
    state: str | None
    next_state: str | None
    decay: np.ndarray
    theta: np.ndarray
    comparison: str
    reset: str
    drive: list[str]
    gain: np.ndarray | None = None
    origin: str = ""
    nodes: list[onnx.NodeProto] = field(default_factory=list)


def _state_leaf(ix: Index, leaf: str, named: bool) -> tuple[str, np.ndarray] | None:
    """(v, decay) when `leaf` is v (a state input) or decay·v / v·decay."""
    if leaf in ix.inputs and named and leaf.startswith(STATE_IN):
        return leaf, np.array(1.0)
    node = ix.op(leaf, "Mul")
    if node is None:
        return None
    for a, b in (node.input, node.input[::-1]):
        if a in ix.inputs and (a.startswith(STATE_IN) or not named) and ix.const(b) is not None:
            ix.claim(node)
            return a, ix.const(b)  # type: ignore[return-value]
    return None


def _reset_of(ix: Index, out: str, h: str, s: str, theta: np.ndarray) -> str | None:
    """Reset kind when `out` is h (none), h·(1 − s) (zero) or h − θ·s (subtract), claiming its nodes."""
    if out == h:
        return "none"
    node = ix.producer.get(out)
    if node is None:
        return None
    a = list(node.input)
    if node.op_type == "Identity" and a == [h]:
        ix.claim(node)
        return "none"
    if node.op_type == "Mul" and h in a and len(a) == 2:
        keep = ix.op(a[1 - a.index(h)], "Sub")
        if keep is not None and keep.input[1] == s and np.all(ix.const(keep.input[0]) == 1):
            ix.claim(node, keep)
            return "zero"
    if node.op_type == "Sub" and a[0] == h:
        ts = ix.op(a[1], "Mul")
        if ts is not None and s in ts.input:
            value = ix.const(ts.input[1 - list(ts.input).index(s)])
            if value is not None and value.shape == theta.shape and np.array_equal(value, theta):
                ix.claim(node, ts)
                return "subtract"
    return None


def match_lif(ix: Index, cmp: onnx.NodeProto, named: bool, index: int) -> LifMatch | None:
    """h = decay·v + Σ drive (or + gain·(Σ drive)); s = Cast([h > θ]); next state = reset(h, s), or None
    with a diagnostic."""
    ix.claim(cmp)
    h, theta = cmp.input[0], ix.const(cmp.input[1])
    casts = [n for n in ix.consumers[cmp.output[0]]
             if n.op_type == "Cast" and attr(n, "to") in FLOAT_TYPES]
    if theta is None or len(casts) != 1 or len(ix.consumers[cmp.output[0]]) != 1:
        ix.diags.append(diagnostic(cmp, "comparison is not a spike s = (h > θ).to(dtype) with a constant θ"))
        return None
    cast = casts[0]
    ix.claim(cast)
    spike = cast.output[0]
    ix.failed.add(spike)  # until the match completes
    leaves = ix.add_terms(h)
    states = [(leaf, m) for leaf in leaves if (m := _state_leaf(ix, leaf, named)) is not None]
    ix.failed.update(m[0] for _, m in states)
    if len(states) > 1:
        ix.diags.append(diagnostic(cmp, "membrane h adds more than one state term decay·v"))
        return None
    drive = [leaf for leaf in leaves if not states or leaf != states[0][0]]
    gain = None
    if len(drive) == 1 and (mul := ix.op(drive[0], "Mul")) is not None and ix.single_use(drive[0]):
        for a, b in (mul.input, mul.input[::-1]):
            if (value := ix.const(a)) is not None and ix.const(b) is None:
                ix.claim(mul)
                gain, drive = value, ix.add_terms(b)
                break
    v, decay = states[0][1] if states else (None, np.array(0.0))
    name = v[len(STATE_IN):] if v and v.startswith(STATE_IN) else spike if spike in ix.outputs else f"lif{index}"
    lif = LifMatch(name, spike, v, None, decay, theta, COMPARISONS[cmp.op_type], "none", drive, gain, cmp.name)
    if v is None:
        ix.failed.discard(spike)
        return lif  # no state: decay 0, any reset is the same
    candidates = [STATE_OUT + name] if named else [o for o in ix.outputs if o != spike]
    for out in candidates:
        if out in ix.outputs and (reset := _reset_of(ix, out, h, spike, theta)) is not None:
            lif.next_state, lif.reset = out, reset
            ix.failed.difference_update({spike, v})
            return lif
    if named and STATE_OUT + name in ix.outputs:
        node = ix.producer.get(STATE_OUT + name)
        ix.diags.append(diagnostic(node, f"next state of LIF `{name}` is not h·(1 − s), h − θ·s or h"))
    else:
        ix.diags.append(diagnostic(cmp, f"LIF `{name}` reads state `{v}` but no graph output "
                                   f"{'`' + STATE_OUT + name + '` ' if named else ''}returns its next state"))
    return None
