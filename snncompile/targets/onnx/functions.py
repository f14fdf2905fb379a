"""ONNX function bodies (standard operators, domain `snncompile`) for the ops of the float step model."""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import helper

from snncompile.formats.onnx_naming import DOMAIN

OPSET = 18
Pair = tuple[int, int]


def _const(nodes: list[onnx.NodeProto], name: str, value: list[int] | int) -> str:
    """Appends an int64 Constant (a list gives a 1-D tensor, an int a scalar); returns its name."""
    array = np.array(value, dtype=np.int64)
    nodes.append(helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(array, name)))
    return name


def make_function(name: str, inputs: list[str], outputs: list[str], nodes: list[onnx.NodeProto],
              attributes: tuple[str, ...] = ()) -> onnx.FunctionProto:
    return helper.make_function(DOMAIN, name, inputs, outputs, nodes, [helper.make_opsetid("", OPSET)],
                                attributes=list(attributes))


def fan_in(nodes: list[onnx.NodeProto], n: int) -> str:
    """Appends x = ((x0 + x1) + x2) ... (left to right, the simulator's order); returns its name."""
    total = "x0"
    for i in range(1, n):
        nodes.append(helper.make_node("Add", [total, f"x{i}"], [f"xs{i}"]))
        total = f"xs{i}"
    return total


def _fire(nodes: list[onnx.NodeProto], value: str, comparison: str, out: str) -> str:
    """out = CastLike([value > θ] (or ≥), value)."""
    nodes += [helper.make_node("Greater" if comparison == ">" else "GreaterOrEqual", [value, "theta"], [out + "_c"]),
              helper.make_node("CastLike", [out + "_c", value], [out])]
    return out


def _reset(nodes: list[onnx.NodeProto], reset: str, h: str, s: str, out: str) -> None:
    """out = h·(1 − s) "zero" | h − θ·s "subtract" | h "none"."""
    if reset == "zero":
        nodes += [helper.make_node("Constant", [], [out + "_one0"], value_float=1.0),
                  helper.make_node("CastLike", [out + "_one0", h], [out + "_one"]),
                  helper.make_node("Sub", [out + "_one", s], [out + "_keep"]),
                  helper.make_node("Mul", [h, out + "_keep"], [out])]
    elif reset == "subtract":
        nodes += [helper.make_node("Mul", ["theta", s], [out + "_ts"]),
                  helper.make_node("Sub", [h, out + "_ts"], [out])]
    else:
        nodes.append(helper.make_node("Identity", [h], [out]))


def lif_function_name(fan_in: int, comparison: str, reset: str, gain: bool) -> str:
    """Name encoding one LIF variant: LIF_in<n>_<gt|ge>_<reset>[_gain]."""
    return f"LIF_in{fan_in}_{'gt' if comparison == '>' else 'ge'}_{reset}" + ("_gain" if gain else "")


def lif_function(n_in: int, comparison: str, reset: str, gain: bool) -> onnx.FunctionProto:
    """ir.LIF one step. Inputs x0..x{n-1} [B,..], v [K,B,..], decay [..], theta [K,1,..] (+ gain [..]);
    outputs s [B,..] and v' [K,B,..]:
        x = Σ_i x_i;  h = decay·v + (gain·)x;  c = [h > θ] (or ≥);
        v' = h·(1 − c) | h − θ·c | h;  s = Σ_k c_k
    """
    nodes: list[onnx.NodeProto] = []
    x = fan_in(nodes, n_in)
    if gain:
        nodes.append(helper.make_node("Mul", ["gain", x], ["drive"]))
        x = "drive"
    nodes += [helper.make_node("Mul", ["decay", "v"], ["dv"]), helper.make_node("Add", ["dv", x], ["h"])]
    _fire(nodes, "h", comparison, "sk")
    _reset(nodes, reset, "h", "sk", "v_next")
    nodes.append(helper.make_node("ReduceSum", ["sk", _const(nodes, "axes", [0])], ["s"], keepdims=0))
    inputs = [f"x{i}" for i in range(n_in)] + ["v", "decay", "theta"] + (["gain"] if gain else [])
    return make_function(lif_function_name(n_in, comparison, reset, gain), inputs, ["s", "v_next"], nodes)


def lif_ext_function_name(n_in: int, comparison: str, reset: str, timing: str, syn: bool, gain: bool) -> str:
    """LIFExt_in<n>_<gt|ge>_<reset>_<immediate|delayed|double>[_syn][_gain]."""
    return (f"LIFExt_in{n_in}_{'gt' if comparison == '>' else 'ge'}_{reset}_{timing}"
            + ("_syn" if syn else "") + ("_gain" if gain else ""))


def lif_ext_function(n_in: int, comparison: str, reset: str, timing: str, syn: bool,
                     gain: bool) -> onnx.FunctionProto:
    """ir.LIFExt one step. Inputs x0.., state [S,B,..] (v, and i when syn: S = 2), decay, theta (+ syn_decay)
    (+ gain), all [..]; outputs s [B,..] and state' [S,B,..]:
        i = syn_decay·i + x (or x);  h = decay·v + (gain·)i;  r = [v > θ]
        immediate: s = [h > θ] (or ≥);  v' = h·(1 − s) | h − θ·s | h
        delayed:   v' = h − θ·r | h·(1 − r);  s = [v' > θ]
        double:    s = [h − θ·r > θ];  v' = h − θ·s
    """
    nodes: list[onnx.NodeProto] = []
    x = fan_in(nodes, n_in)
    nodes.append(helper.make_node("Gather", ["state", _const(nodes, "k0", 0)], ["v"], axis=0))
    i = x
    if syn:
        nodes += [helper.make_node("Gather", ["state", _const(nodes, "k1", 1)], ["i_prev"], axis=0),
                  helper.make_node("Mul", ["syn_decay", "i_prev"], ["si"]), helper.make_node("Add", ["si", x], ["i"])]
        i = "i"
    if gain:
        nodes.append(helper.make_node("Mul", ["gain", i], ["drive"]))
    nodes += [helper.make_node("Mul", ["decay", "v"], ["dv"]),
              helper.make_node("Add", ["dv", "drive" if gain else i], ["h"])]
    if timing == "immediate":
        _fire(nodes, "h", comparison, "s")
        _reset(nodes, reset, "h", "s", "v_next")
    else:
        nodes += [helper.make_node("Greater", ["v", "theta"], ["r_c"]),
                  helper.make_node("CastLike", ["r_c", "h"], ["r"])]
        if timing == "delayed":
            _reset(nodes, reset, "h", "r", "v_next")
            _fire(nodes, "v_next", comparison, "s")
        else:
            _reset(nodes, "subtract", "h", "r", "hr")
            _fire(nodes, "hr", comparison, "s")
            _reset(nodes, "subtract", "h", "s", "v_next")
    axes = _const(nodes, "axes", [0])
    parts = ["v_next", i] if syn else ["v_next"]
    for p in parts:
        nodes.append(helper.make_node("Unsqueeze", [p, axes], [p + "_u"]))
    nodes.append(helper.make_node("Concat", [p + "_u" for p in parts], ["state_next"], axis=0))
    inputs = [f"x{k}" for k in range(n_in)] + ["state", "decay", "theta"] + (["syn_decay"] if syn else []) \
        + (["gain"] if gain else [])
    return make_function(lif_ext_function_name(n_in, comparison, reset, timing, syn, gain), inputs,
                     ["s", "state_next"], nodes)


def linear_function(name: str, n_in: int, extra: tuple[str, ...] = ()) -> onnx.FunctionProto:
    """A synapse by a matrix: y = reshape(flatten(Σ_i x_i) · M + b, shape). Inputs x0.., M [in, out], b [out],
    shape (int64), then `extra` inputs (kept for reading back, unused by the body)."""
    nodes: list[onnx.NodeProto] = []
    x = fan_in(nodes, n_in)
    nodes += [helper.make_node("Flatten", [x], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "M"], ["mm"]),
              helper.make_node("Add", ["mm", "b"], ["yb"]), helper.make_node("Reshape", ["yb", "shape"], ["y"])]
    inputs = [f"x{i}" for i in range(n_in)] + ["M", "b", "shape", *extra]
    return make_function(name, inputs, ["y"], nodes)


def _windows(nodes: list[onnx.NodeProto], x: str, axes: Pair, kernel: Pair, stride: Pair, dilation: Pair,
             out: Pair) -> list[str]:
    """One strided Slice of x per kernel offset (row-major): x[.., i·dh + sh·oh, j·dw + sw·ow, ..]."""
    ax, steps = _const(nodes, "win_axes", list(axes)), _const(nodes, "win_steps", list(stride))
    names = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            start = [i * dilation[0], j * dilation[1]]
            end = [start[0] + (out[0] - 1) * stride[0] + 1, start[1] + (out[1] - 1) * stride[1] + 1]
            k = i * kernel[1] + j
            nodes.append(helper.make_node("Slice", [x, _const(nodes, f"start{k}", start),
                                                    _const(nodes, f"end{k}", end), ax, steps], [f"win{k}"]))
            names.append(f"win{k}")
    return names


def _pad(nodes: list[onnx.NodeProto], padding: Pair) -> str:
    if padding == (0, 0):
        return "x0"
    pads = _const(nodes, "pads", [0, 0, padding[0], padding[1], 0, 0, padding[0], padding[1]])
    nodes.append(helper.make_node("Pad", ["x0", pads], ["xp"], mode="constant"))
    return "xp"


def _chain_add(nodes: list[onnx.NodeProto], terms: list[str], out: str) -> None:
    total = terms[0]
    for k, t in enumerate(terms[1:], 1):
        nodes.append(helper.make_node("Add", [total, t], [f"{out}_acc{k}"]))
        total = f"{out}_acc{k}"
    nodes.append(helper.make_node("Identity", [total], [out]))


WRAP = 2**23
"""Lava's Conv output wraps to 24 bits (signed_clamp): the integer step model's conv ends with that wrap."""


def conv_function(channels: Pair, out: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair,
                  dilation: Pair, groups: int, bias: bool, wrap24: bool = False) -> onnx.FunctionProto:
    """ir.Conv2d without im2col matrices. Inputs x0 [B,Ci,H,W], W [kh·kw, g, Ci/g, Co/g] (+ b [Co,1,1]):
        xp = zero-pad(x0);  p_k = window_k(xp) · W[k]  (channels last, per group; k = i·kw + j)
        y = ((p_0 + p_1) + ...) + b      [B, Co, Ho, Wo]
    wrap24 (the integer model; integer sums below 2^53 are exact in float64 in any order):
        y = y − ⌊(y + 2^23) / 2^24⌋·2^24      (identity for |y| < 2^23, as the bit-exact simulator)
    """
    (ci, co), (_, ho, wo) = channels, out
    nodes: list[onnx.NodeProto] = []
    nodes.append(helper.make_node("Transpose", [_pad(nodes, padding)], ["xt"], perm=[0, 2, 3, 1]))
    split = _const(nodes, "split", [-1, ho, wo, groups, 1, ci // groups])
    terms = []
    for k, win in enumerate(_windows(nodes, "xt", (1, 2), kernel, stride, dilation, (ho, wo))):
        nodes += [helper.make_node("Reshape", [win, split], [f"r{k}"]),
                  helper.make_node("Gather", ["W", _const(nodes, f"k{k}", k)], [f"w{k}"], axis=0),
                  helper.make_node("MatMul", [f"r{k}", f"w{k}"], [f"p{k}"])]
        terms.append(f"p{k}")
    _chain_add(nodes, terms, "acc")
    nodes += [helper.make_node("Reshape", ["acc", _const(nodes, "merge", [-1, ho, wo, co])], ["y_last"]),
              helper.make_node("Transpose", ["y_last"], ["y_nb" if bias or wrap24 else "y"], perm=[0, 3, 1, 2])]
    if bias:
        nodes.append(helper.make_node("Add", ["y_nb", "b"], ["y_raw" if wrap24 else "y"]))
    if wrap24:
        _wrap24(nodes, "y_nb" if not bias else "y_raw", "y")
    name = (f"Conv2d_c{ci}to{co}_o{ho}x{wo}_k{kernel[0]}x{kernel[1]}_s{stride[0]}x{stride[1]}_p{padding[0]}x"
            f"{padding[1]}_d{dilation[0]}x{dilation[1]}_g{groups}" + ("_bias" if bias else "")
            + ("_wrap24" if wrap24 else ""))
    return make_function(name, ["x0", "W"] + (["b"] if bias else []), ["y"], nodes,
                     ("kernel_shape", "strides", "pads", "dilations", "group"))


def _wrap24(nodes: list[onnx.NodeProto], x: str, out: str) -> None:
    """out = x − ⌊(x + 2^23) / 2^24⌋·2^24, all float64 (exact for integers below 2^53)."""
    for name, value in (("wrap_half", float(WRAP)), ("wrap_full", float(2 * WRAP))):
        nodes.append(helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(
            np.array(value, dtype=np.float64), name)))
    nodes += [helper.make_node("Add", [x, "wrap_half"], ["wrap_sh"]),
              helper.make_node("Div", ["wrap_sh", "wrap_full"], ["wrap_q"]),
              helper.make_node("Floor", ["wrap_q"], ["wrap_fl"]),
              helper.make_node("Mul", ["wrap_fl", "wrap_full"], ["wrap_m"]),
              helper.make_node("Sub", [x, "wrap_m"], [out])]


CONV_NAME = re.compile(r"Conv2d_c(\d+)to(\d+)_o(\d+)x(\d+)_k(\d+)x(\d+)_s(\d+)x(\d+)_p(\d+)x(\d+)_d(\d+)x(\d+)"
                       r"_g(\d+)(_bias)?(_wrap24)?")
POOL_NAME = re.compile(r"Pool2d_(sum|avg)_o(\d+)x(\d+)_k(\d+)x(\d+)_s(\d+)x(\d+)_p(\d+)x(\d+)")


def function_from_name(name: str) -> onnx.FunctionProto | None:
    """The conv or pooling function snncompile exports under this name (its geometry is in the name)."""
    if m := CONV_NAME.fullmatch(name):
        v = [int(g) for g in m.groups()[:13]]
        fn = conv_function((v[0], v[1]), (v[1], v[2], v[3]), (v[4], v[5]), (v[6], v[7]), (v[8], v[9]),
                           (v[10], v[11]), v[12], m.group(14) is not None, m.group(15) is not None)
    elif m := POOL_NAME.fullmatch(name):
        v = [int(g) for g in m.groups()[1:]]
        fn = pool_function(m.group(1), (v[0], v[1]), (v[2], v[3]), (v[4], v[5]), (v[6], v[7]))
    else:
        return None
    return fn if fn.name == name else None


def pool_function(mode: str, out: Pair, kernel: Pair, stride: Pair, padding: Pair) -> onnx.FunctionProto:
    """ir.Pool2d (zero padding counted). Input x0 [B,C,H,W]:
        sum: y = Σ_k window_k(pad(x0)) (k = i·kw + j, left to right);  avg: y = that sum / (kh·kw)
    """
    nodes: list[onnx.NodeProto] = []
    wins = _windows(nodes, _pad(nodes, padding), (2, 3), kernel, stride, (1, 1), out)
    _chain_add(nodes, wins, "y" if mode == "sum" else "total")
    if mode == "avg":
        nodes += [helper.make_node("Constant", [], ["count0"], value_float=float(kernel[0] * kernel[1])),
                  helper.make_node("CastLike", ["count0", "total"], ["count"]),
                  helper.make_node("Div", ["total", "count"], ["y"])]
    name = (f"Pool2d_{mode}_o{out[0]}x{out[1]}_k{kernel[0]}x{kernel[1]}_s{stride[0]}x{stride[1]}"
            f"_p{padding[0]}x{padding[1]}")
    return make_function(name, ["x0"], ["y"], nodes, ("mode", "kernel_shape", "strides", "pads"))


def delay_line_function() -> onnx.FunctionProto:
    """Shift register of one node's output. Inputs x [B,..], buf [D,B,..] (buf[d−1] = x[t−d]); output
        buf' = concat(x[None], buf)[:D]     (so buf'[d−1] = x[t+1−d] at the next step)
    """
    nodes: list[onnx.NodeProto] = []
    axes = _const(nodes, "axes", [0])
    nodes += [helper.make_node("Unsqueeze", ["x", axes], ["xu"]),
              helper.make_node("Concat", ["xu", "buf"], ["cat"], axis=0),
              helper.make_node("Shape", ["buf"], ["depth"], start=0, end=1),
              helper.make_node("Slice", ["cat", _const(nodes, "zero", [0]), "depth", axes], ["buf_next"])]
    return make_function("DelayLine", ["x", "buf"], ["buf_next"], nodes)
