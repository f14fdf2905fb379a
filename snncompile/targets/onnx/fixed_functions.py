"""ONNX functions (domain snncompile, standard-operator bodies) of the Loihi fixed-point ops, and their indices."""

from __future__ import annotations

import onnx
from onnx import AttributeProto, TensorProto, helper

from snncompile.formats.onnx_naming import ENCODE, LIF_PREFIX, READOUT_MEAN, READOUT_WINDOW, SKIP
from snncompile.targets.loihi.caps import DECAY_UNITY, SHIFT, STATE_LIMIT
from snncompile.targets.onnx.functions import fan_in as sum_fan_in
from snncompile.targets.onnx.functions import function_from_name, make_function

Nodes = list[onnx.NodeProto]


def _const(nodes: Nodes, name: str, value: float) -> str:
    """Appends a float64 scalar constant; returns its name."""
    tensor = helper.make_tensor(name, TensorProto.DOUBLE, [], [value])
    nodes.append(helper.make_node("Constant", [], [name], value=tensor))
    return name


def _attr_double(nodes: Nodes, attr: str) -> str:
    """Appends the integer attribute `attr` of the calling node as a float64 scalar; returns its name."""
    node = helper.make_node("Constant", [], [f"{attr}_i"])
    node.attribute.append(helper.make_attribute_ref("value_int", AttributeProto.INT, ref_attr_name=attr))
    nodes += [node, helper.make_node("Cast", [f"{attr}_i"], [attr], to=TensorProto.DOUBLE)]
    return attr


def _trunc_decay(nodes: Nodes, x: str, keep: str, tag: str) -> str:
    """dec(x, D) = sgn(p)·⌊|p| / 2^12⌋ with p = x·(4096 − D) = x·keep (exact in float64: |p| < 2^37)."""
    nodes += [helper.make_node("Mul", [x, keep], [f"{tag}_p"]),
              helper.make_node("Abs", [f"{tag}_p"], [f"{tag}_abs"]),
              helper.make_node("Div", [f"{tag}_abs", "c4096"], [f"{tag}_q"]),
              helper.make_node("Floor", [f"{tag}_q"], [f"{tag}_fl"]),
              helper.make_node("Sign", [f"{tag}_p"], [f"{tag}_sg"]),
              helper.make_node("Mul", [f"{tag}_sg", f"{tag}_fl"], [f"{tag}_dec"])]
    return f"{tag}_dec"


def _keep(nodes: Nodes, attr: str) -> str:
    """4096 − D for the decay attribute `attr`."""
    nodes.append(helper.make_node("Sub", ["c4096", _attr_double(nodes, attr)], [f"keep_{attr}"]))
    return f"keep_{attr}"


def lif_function(fan_in: int) -> onnx.FunctionProto:
    """LoihiLIF one step (Lava PyLifModelBitAcc). Inputs x0..x{n-1} (synaptic sums A_i [B,..]), state [2,B,..]
    (u, v), bias [..] (raw integers), scale [..] (scale ledger, kept for reading back); attributes threshold,
    i_decay, v_decay (ints) and has_bias (read back only). Outputs s [B,..] (0/1) and state_next [2,B,..]:
        A  = Σ_i x_i;  dec(x, D) = sgn(x·(4096 − D))·⌊|x·(4096 − D)| / 2^12⌋
        u1 = dec(u, i_decay) + A·2^6
        u  = u1 − 2^24 if u1 > 2^23;  u1 + 2^24 if u1 ≤ −2^23;  u1 otherwise      (one conditional wrap)
        b16 = ((bias + 2^15) − ⌊(bias + 2^15) / 2^16⌋·2^16) − 2^15                (int16 storage)
        v  = clip(dec(v, v_decay) + u + b16·2^6, −(2^23 − 1), 2^23 − 1)             (saturation)
        s  = [v > threshold·2^6];  v := 0 where s                                   (u is not reset)
    """
    nodes: Nodes = []
    a = sum_fan_in(nodes, fan_in)
    for name, value in (("c4096", DECAY_UNITY), ("c64", 2**SHIFT), ("half", STATE_LIMIT), ("full", 2 * STATE_LIMIT),
                        ("neg_half", -STATE_LIMIT), ("lim", STATE_LIMIT - 1), ("neg_lim", -(STATE_LIMIT - 1)),
                        ("b_off", 2**15), ("b_mod", 2**16), ("zero", 0.0)):
        _const(nodes, name, value)
    nodes += [helper.make_node("Constant", [], ["i0"], value_int=0),
              helper.make_node("Constant", [], ["i1"], value_int=1),
              helper.make_node("Constant", [], ["ax0"], value_ints=[0]),
              helper.make_node("Gather", ["state", "i0"], ["u"], axis=0),
              helper.make_node("Gather", ["state", "i1"], ["v"], axis=0)]
    du = _trunc_decay(nodes, "u", _keep(nodes, "i_decay"), "u")
    dv = _trunc_decay(nodes, "v", _keep(nodes, "v_decay"), "v")
    theta = _attr_double(nodes, "threshold")
    nodes += [helper.make_node("Mul", [a, "c64"], ["a64"]),
              helper.make_node("Add", [du, "a64"], ["u1"]),
              helper.make_node("Greater", ["u1", "half"], ["over"]),
              helper.make_node("LessOrEqual", ["u1", "neg_half"], ["under"]),
              helper.make_node("Sub", ["u1", "full"], ["u_dn"]),
              helper.make_node("Add", ["u1", "full"], ["u_up"]),
              helper.make_node("Where", ["under", "u_up", "u1"], ["u_lo"]),
              helper.make_node("Where", ["over", "u_dn", "u_lo"], ["u_next"]),
              helper.make_node("Add", ["bias", "b_off"], ["b_sh"]),
              helper.make_node("Div", ["b_sh", "b_mod"], ["b_q"]),
              helper.make_node("Floor", ["b_q"], ["b_fl"]),
              helper.make_node("Mul", ["b_fl", "b_mod"], ["b_m"]),
              helper.make_node("Sub", ["b_sh", "b_m"], ["b_r"]),
              helper.make_node("Sub", ["b_r", "b_off"], ["b16"]),
              helper.make_node("Mul", ["b16", "c64"], ["b64"]),
              helper.make_node("Add", [dv, "u_next"], ["v_a"]),
              helper.make_node("Add", ["v_a", "b64"], ["v1"]),
              helper.make_node("Clip", ["v1", "neg_lim", "lim"], ["v_c"]),
              helper.make_node("Mul", [theta, "c64"], ["theta64"]),
              helper.make_node("Greater", ["v_c", "theta64"], ["fire"]),
              helper.make_node("Cast", ["fire"], ["s"], to=TensorProto.DOUBLE),
              helper.make_node("Where", ["fire", "zero", "v_c"], ["v_next"]),
              helper.make_node("Unsqueeze", ["u_next", "ax0"], ["u_e"]),
              helper.make_node("Unsqueeze", ["v_next", "ax0"], ["v_e"]),
              helper.make_node("Concat", ["u_e", "v_e"], ["state_next"], axis=0)]
    inputs = [f"x{i}" for i in range(fan_in)] + ["state", "bias", "scale"]
    return make_function(f"{LIF_PREFIX}{fan_in}", inputs, ["s", "state_next"], nodes,
                     ("threshold", "i_decay", "v_decay", "has_bias"))


def encode_function() -> onnx.FunctionProto:
    """Input encoding: y = clip(⌊x·scale + 1/2⌋, low, high); inputs x, scale, low, high (float64 scalars)."""
    nodes: Nodes = []
    _const(nodes, "c_half", 0.5)
    nodes += [helper.make_node("Mul", ["x", "scale"], ["xs"]),
              helper.make_node("Add", ["xs", "c_half"], ["xr"]),
              helper.make_node("Floor", ["xr"], ["xf"]),
              helper.make_node("Clip", ["xf", "low", "high"], ["y"])]
    return make_function(ENCODE, ["x", "scale", "low", "high"], ["y"], nodes)


def skip_function() -> onnx.FunctionProto:
    """SkipDense: y = reshape(flatten(x) · Wᵀ, shape); inputs x, weight [out, in], shape (int64)."""
    nodes: Nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=1),
                    helper.make_node("Gemm", ["flat", "weight"], ["mm"], transB=1),
                    helper.make_node("Reshape", ["mm", "shape"], ["y"])]
    return make_function(SKIP, ["x", "weight", "shape"], ["y"], nodes)


def readout_function(prefix: str, fan_in: int) -> onnx.FunctionProto:
    """Host readout, one step: y[t] = W·(Σ_i x_i[t]) + b; inputs x0.., weight [classes, in], bias [classes];
    the driver averages y over the T steps it runs. Attributes has_bias (and start, length for the window
    readout) are read back only."""
    nodes: Nodes = []
    x = sum_fan_in(nodes, fan_in)
    nodes.append(helper.make_node("Gemm", [x, "weight", "bias"], ["y"], transB=1))
    attrs = ("has_bias", "start", "length") if prefix == READOUT_WINDOW else ("has_bias",)
    inputs = [f"x{i}" for i in range(fan_in)] + ["weight", "bias"]
    return make_function(f"{prefix}{fan_in}", inputs, ["y"], nodes, attrs)


def canonical_function(name: str) -> onnx.FunctionProto | None:
    """The function snncompile exports under this name, or None for a name it never uses."""
    for prefix in (LIF_PREFIX, READOUT_WINDOW, READOUT_MEAN):
        tail = name[len(prefix):]
        if name.startswith(prefix) and tail.isdigit() and int(tail) >= 1 and str(int(tail)) == tail:
            return lif_function(int(tail)) if prefix == LIF_PREFIX else readout_function(prefix, int(tail))
    fixed = {ENCODE: encode_function, SKIP: skip_function}
    if name in fixed:
        return fixed[name]()
    fn = function_from_name(name)  # conv (the integer model's ends with the 24-bit wrap) and host pooling
    return fn if fn is None or not fn.name.startswith("Conv2d_") or fn.name.endswith("_wrap24") else None
