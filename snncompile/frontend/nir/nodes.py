"""NIR node → IR op, one function per NIR type, under a library's discretisation convention.

Forward Euler with step dt (NIR.md §2.1), v_leak = v_reset = 0:
    LIF      v[t] = (1 − dt/τ)·v[t−1] + (dt·r/τ)·I[t]          → ir.LIF  decay 1 − dt/τ,  gain dt·r/τ
    IF       v[t] = v[t−1] + dt·r·I[t]                           → ir.LIF  decay 1,         gain dt·r
    LI/I → Threshold (one membrane, no reset)                    → ir.LIF  reset "none"
    CubaLIF  i[t] = (1 − dt/τ_s)·i[t−1] + (dt·w_in/τ_s)·S[t];  v[t] = (1 − dt/τ_m)·v[t−1] + (dt·r/τ_m)·i[t]
             → LIFExt  syn_decay 1 − dt/τ_s,  decay 1 − dt/τ_m,  gain (dt·r/τ_m)·(dt·w_in/τ_s)
             (i' = i·τ_s/(dt·w_in) obeys i'[t] = syn_decay·i'[t−1] + S[t]: exact in reals)
norse's own files (norse.torch.to_nir) are read as norse computes them: its exporter writes τ = dt/τ_inv
(norse#411), so the true τ is τ_file/dt; LIFBoxCell has no r (v += dt/τ·(v_leak − v + i)) and LIFCell's
current jumps by the input before the voltage update (i[t] = (1 − dt/τ_s)·i[t−1] + S[t], gain dt/τ_m).
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.ir.ops_ext import LIFExt


@dataclass(frozen=True)
class Convention:
    """How the program that wrote a file discretises NIR: default dt (s; `dt_fixed`: the writer has no other),
    spike comparison, norse quirks, and the reset its neurons have by default where NIR cannot record it
    (a RESETS key; None: NIR's reset to v_reset)."""

    name: str
    dt: float
    comparison: str = ">"
    norse: bool = False
    dt_fixed: bool = False
    reset: str | None = None


CONVENTIONS: dict[str, Convention] = {
    "nir": Convention("nir", 1e-4),
    "snncompile": Convention("snncompile", 1e-4),
    "snntorch": Convention("snntorch", 1e-4, dt_fixed=True, reset="subtract-delayed"),
    "spikingjelly": Convention("spikingjelly", 1e-4, comparison=">="),
    "norse": Convention("norse", 1e-3, norse=True),
}


def problem(code: str, name: str, message: str, hint: str | None = None) -> CompileError:
    return CompileError(Diagnostic(code, message, node=name, origin=f"nir:{name}", hint=hint))


def per_neuron(value: object, shape: ir.Shape, name: str, field: str) -> np.ndarray:
    """A NIR parameter as a full per-neuron array of `shape` (scalars broadcast, flat arrays reshaped)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return np.full(shape, float(arr.reshape(-1)[0]))
    if arr.size != int(np.prod(shape)):
        raise problem("SNC812", name, f"`{field}` has {arr.size} entries for {int(np.prod(shape))} neurons "
                      f"of shape {list(shape)}")
    return arr.reshape(shape)


def _require_zero(node: nir.NIRNode, name: str, fields: tuple[str, ...]) -> None:
    for f in fields:
        value = getattr(node, f, None)
        if value is not None and np.any(np.asarray(value) != 0):
            raise problem("SNC812", name, f"`{f}` is not 0 (max |{f}| = {np.max(np.abs(value)):.6g}); the IR "
                          "neuron leaks towards 0 and resets to 0", "shift the membrane (and threshold) so that "
                          "v_leak = v_reset = 0 before exporting")


def unit_gain(gain: np.ndarray) -> np.ndarray | None:
    """None (the IR's gain 1) where the unit-gain convention r = τ/dt gave 1 up to rounding."""
    return None if np.allclose(gain, 1.0, rtol=0.0, atol=1e-12) else gain


def _positive(tau: np.ndarray, name: str, field: str) -> np.ndarray:
    if np.any(~np.isfinite(tau)) or np.any(tau <= 0):
        raise problem("SNC812", name, f"`{field}` must be positive and finite")
    return tau


@dataclass(frozen=True)
class NeuronContext:
    """What a neuron mapping needs besides the node: IR name and input edges, its shape, the convention."""

    name: str
    inputs: tuple[ir.Edge, ...]
    shape: ir.Shape
    dt: float
    convention: Convention
    comparison: str
    origin: str


def lif(node: nir.LIF, c: NeuronContext) -> ir.LIF:
    _require_zero(node, c.name, ("v_leak", "v_reset"))
    tau = _positive(per_neuron(node.tau, c.shape, c.name, "tau"), c.name, "tau")
    r = per_neuron(node.r, c.shape, c.name, "r")
    if c.convention.norse:
        tau, r = tau / c.dt, np.ones(c.shape)
    theta = per_neuron(node.v_threshold, c.shape, c.name, "v_threshold")
    return ir.LIF(c.name, c.inputs, c.origin, decay=1.0 - c.dt / tau, threshold=theta[None],
                  comparison=c.comparison, reset="zero", gain=unit_gain(c.dt * r / tau))


def if_(node: nir.IF, c: NeuronContext) -> ir.LIF:
    _require_zero(node, c.name, ("v_reset",))
    r = per_neuron(node.r, c.shape, c.name, "r")
    gain = np.ones(c.shape) if c.convention.norse else c.dt * r
    theta = per_neuron(node.v_threshold, c.shape, c.name, "v_threshold")
    return ir.LIF(c.name, c.inputs, c.origin, decay=np.ones(c.shape), threshold=theta[None],
                  comparison=c.comparison, reset="zero", gain=unit_gain(gain))


def membrane_threshold(node: nir.NIRNode, threshold: nir.Threshold, c: NeuronContext) -> ir.LIF:
    """An LI or I membrane read only by a Threshold node: a LIF without reset."""
    r = per_neuron(node.r, c.shape, c.name, "r")
    theta = per_neuron(threshold.threshold, c.shape, c.name, "threshold")
    if isinstance(node, nir.I):
        decay, gain = np.ones(c.shape), c.dt * r
    else:
        _require_zero(node, c.name, ("v_leak",))
        tau = _positive(per_neuron(node.tau, c.shape, c.name, "tau"), c.name, "tau")
        decay, gain = 1.0 - c.dt / tau, c.dt * r / tau
    return ir.LIF(c.name, c.inputs, c.origin, decay=decay, threshold=theta[None], comparison=c.comparison,
                  reset="none", gain=unit_gain(gain))


def cuba_lif(node: nir.CubaLIF, c: NeuronContext) -> LIFExt:
    _require_zero(node, c.name, ("v_leak", "v_reset"))
    tau_syn = _positive(per_neuron(node.tau_syn, c.shape, c.name, "tau_syn"), c.name, "tau_syn")
    tau_mem = _positive(per_neuron(node.tau_mem, c.shape, c.name, "tau_mem"), c.name, "tau_mem")
    w_in = per_neuron(node.w_in, c.shape, c.name, "w_in")
    theta = per_neuron(node.v_threshold, c.shape, c.name, "v_threshold")
    if c.convention.norse:
        tau_syn, tau_mem = tau_syn / c.dt, tau_mem / c.dt
        gain = w_in * c.dt / tau_mem
    else:
        r = per_neuron(node.r, c.shape, c.name, "r")
        gain = (c.dt * r / tau_mem) * (c.dt * w_in / tau_syn)
    return LIFExt(c.name, c.inputs, c.origin, decay=1.0 - c.dt / tau_mem, threshold=theta,
                  syn_decay=1.0 - c.dt / tau_syn, gain=unit_gain(gain), comparison=c.comparison, reset="zero")


NEURONS = {nir.LIF: lif, nir.IF: if_, nir.CubaLIF: cuba_lif}

RESETS: dict[str, tuple[str, str]] = {
    "zero": ("zero", "immediate"), "subtract": ("subtract", "immediate"), "none": ("none", "immediate"),
    "subtract-delayed": ("subtract", "delayed"), "subtract-double": ("subtract", "double"),
    "zero-delayed": ("zero", "delayed"),
}
"""Reset semantics a file cannot record (NIR only resets to v_reset) → (reset, reset_timing) of LIFExt.
snntorch's default Leaky (subtract, reset_delay=True) is "subtract-delayed"; reset_delay=False is
"subtract-double"; Synaptic with reset "zero" and reset_delay=True is "zero-delayed"."""


def with_reset(op: ir.Op, spec: str) -> ir.Op:
    """The neuron with the source's actual reset (see RESETS); exact, as the IR op states it."""
    reset, timing = RESETS[spec]
    if isinstance(op, ir.LIF) and timing == "immediate":
        return op.replace(reset=reset)
    if isinstance(op, ir.LIF):
        op = LIFExt(op.name, op.inputs, op.origin, decay=op.decay, threshold=op.threshold[0], gain=op.gain,
                    comparison=op.comparison)
    return op.replace(reset=reset, reset_timing=timing)


def pair(value: object) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    return (int(arr[0]), int(arr[-1]))


def conv_padding(node: nir.Conv2d, name: str) -> tuple[int, int]:
    if isinstance(node.padding, str):
        if node.padding == "valid":
            return (0, 0)
        kernel, dilation = np.array(node.weight.shape[2:]), np.array(pair(node.dilation))
        span = dilation * (kernel - 1)
        if np.any(span % 2) or pair(node.stride) != (1, 1):
            raise problem("SNC812", name, "padding 'same' with an even kernel or a stride is asymmetric")
        return (int(span[0] // 2), int(span[1] // 2))
    return pair(node.padding)


def grouped_weight(weight: np.ndarray, groups: int) -> np.ndarray | None:
    """The [Co, Ci/g, kh, kw] kernel of an ungrouped [Co, Ci, kh, kw] one that is zero outside its g diagonal
    blocks; None if it is not."""
    co, ci = weight.shape[:2]
    if co % groups or ci % groups:
        return None
    per_out, per_in = co // groups, ci // groups
    blocks = np.zeros((co, per_in, *weight.shape[2:]))
    rest = np.array(weight)
    for o in range(co):
        g = o // per_out
        blocks[o] = weight[o, g * per_in:(g + 1) * per_in]
        rest[o, g * per_in:(g + 1) * per_in] = 0
    return None if np.any(rest) else blocks


def synapse(node: nir.NIRNode, name: str, inputs: tuple[ir.Edge, ...], origin: str, in_shape: ir.Shape,
            readout: bool) -> ir.Op:
    """Affine, Linear, Scale, Conv2d, AvgPool2d and SumPool2d; an Affine/Linear output may be a Readout."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2:
            raise problem("SNC812", name, f"batched weight of shape {list(w.shape)}")
        bias = np.asarray(node.bias, dtype=np.float64) if isinstance(node, nir.Affine) else None
        return (ir.Readout if readout else ir.Dense)(name, inputs, origin, weight=w, bias=bias)
    if isinstance(node, nir.Scale) and len(in_shape) == 1:
        return ir.Dense(name, inputs, origin, weight=np.diag(per_neuron(node.scale, in_shape, name, "scale")))
    if isinstance(node, nir.Conv2d):
        bias = None if node.bias is None else np.asarray(node.bias, dtype=np.float64)
        return ir.Conv2d(name, inputs, origin, weight=np.asarray(node.weight, dtype=np.float64), bias=bias,
                         stride=pair(node.stride), padding=conv_padding(node, name), dilation=pair(node.dilation),
                         groups=int(np.asarray(node.groups)))
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        return ir.Pool2d(name, inputs, origin, mode="avg" if isinstance(node, nir.AvgPool2d) else "sum",
                         kernel=pair(node.kernel_size), stride=pair(node.stride), padding=pair(node.padding))
    raise problem("SNC811", name, f"NIR node type {type(node).__name__} is not supported by the reader",
                  "supported: Input, Output, Affine, Linear, Scale (rank 1), Conv2d, AvgPool2d, SumPool2d, "
                  "Flatten, Delay, LIF, IF, CubaLIF, LI/I followed by Threshold")
