"""Converters for norse.torch: LIF (sequence), LIFCell and LIFBoxCell (per step, inside Lift), Lift, SequentialState.

Semantics reproduced (norse/torch/functional/lif.py, lif_box.py), forward Euler with the module's dt and
a_m = dt·tau_mem_inv, a_s = dt·tau_syn_inv computed in the parameters' own dtype, as norse does:
  LIF / LIFCell:  I[t] = i[t] + x[t];  v' = v + a_m·((v_leak − v) + I[t]);  i[t+1] = I[t] − a_s·I[t]
                  z = [v' − v_th > 0] (strict);  v = v_reset where z;  v starts at v_leak, i at 0
                → ir LIFExt, immediate zero reset, syn_decay 1 − a_s, decay 1 − a_m, gain a_m, in u = v − v_reset
  LIFBoxCell:     v' = v + a_m·(x + v_leak − v);  z = [v' − v_th > 0];  reset_value or reset_subtract
                → ir.LIF, decay 1 − a_m, gain a_m
A non-zero constant drive a_m·(v_leak − v_reset) and a non-zero initial state are not expressible, so
v_leak must equal v_reset (reset_subtract: v_leak = 0). Registered only if norse imports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from snncompile import ir
from snncompile.errors import CompileError, error
from snncompile.frontend.pytorch.converters import ConvertContext, checks_subclasses, register_converter
from snncompile.frontend.pytorch.load import allow_class
from snncompile.frontend.pytorch.tracer import convert_submodule
from snncompile.ir.ops_ext import LIFExt

try:
    from norse.torch.functional.reset import reset_subtract, reset_value
    from norse.torch.module.lif import LIF, LIFCell
    from norse.torch.module.lif_box import LIFBoxCell
    from norse.torch.module.lift import Lift
    from norse.torch.module.sequential import SequentialState
    from norse.torch.module.snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell
except ImportError:  # the frontend works without norse
    AVAILABLE = False
else:
    AVAILABLE = True


LibraryModule = Any
"""A norse module: norse ships no type information, so its attributes are unknown to the type checker."""


_METHODS = ("super", "heaviside", "triangle", "tanh", "circ", "heavi_erfc")  # all fire as [x > 0] forward
_THREADED = "_norse_state_threaded"  # ctx flag: the enclosing Lift passes each cell its previous state


def _refuse(code: str, path: str, m: LibraryModule, what: str, hint: str) -> CompileError:
    return error(code, f"`{path}` ({type(m).__module__}.{type(m).__qualname__}): {what}", origin=path, hint=hint)


def _array(value: Any, shape: tuple[int, ...], path: str, m: LibraryModule, what: str) -> np.ndarray:
    array = torch.as_tensor(value).detach().cpu().double().numpy()
    try:
        return np.broadcast_to(array, shape).copy()
    except ValueError:
        raise _refuse("SNC701", path, m, f"parameter {what} of shape {list(array.shape)} does not broadcast to "
                      f"one timestep's features {list(shape)}", "use scalars or per-neuron tensors") from None


def _rate(m: LibraryModule, tau_inv: Any, shape: tuple[int, ...], path: str, what: str) -> np.ndarray:
    """dt·τ⁻¹ evaluated exactly as norse's forward does (a Python float times the parameter tensor)."""
    return _array(m.dt * torch.as_tensor(tau_inv), shape, path, m, f"dt·{what}")


def _check_method(m: LibraryModule, path: str) -> None:
    if m.p.method not in _METHODS:
        raise _refuse("SNC701", path, m, f"method={m.p.method!r}", "use one of " + ", ".join(_METHODS))


def _check_placement(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str], per_step: bool) -> None:
    if type(m) not in (LIF, LIFCell, LIFBoxCell):
        raise _refuse("SNC700", path, m, "subclass of a norse neuron; its dynamics may differ",
                      f"register a converter for {type(m).__qualname__} (snncompile.register_converter)")
    if len(inputs) != 1:
        raise _refuse("SNC701", path, m, "an explicit state is passed in", "let the module start from its "
                      "initial state (state=None)")
    if per_step and not (ctx.per_step and getattr(ctx, _THREADED, False)):
        raise _refuse("SNC702", path, m, "a norse cell computes one timestep and must get its previous state "
                      "each step", "use it as Lift(cell) or inside Lift(SequentialState(...)), or use the "
                      "sequence module norse.torch.LIF")
    if not per_step and (ctx.batch_dims != 2 or ctx.per_step):
        raise _refuse("SNC702", path, m, "a sequence module inside a per-step or [T·B, ...] body would treat "
                      "the batch axis as time", "use LIFCell inside Lift, or move LIF to the [T, B, ...] level")


def _equal_leak_reset(m: LibraryModule, path: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    leak = _array(m.p.v_leak, shape, path, m, "v_leak")
    reset = _array(m.p.v_reset, shape, path, m, "v_reset")
    if not np.array_equal(leak, reset):
        raise _refuse("SNC701", path, m, "v_leak ≠ v_reset: the membrane starts at v_leak and relaxes towards it, "
                      "a constant drive and initial state the compiled LIF cannot hold",
                      "train with v_leak = v_reset (e.g. both 0)")
    return leak, reset


def lif(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> Any:
    _check_placement(ctx, m, path, inputs, per_step=isinstance(m, SNNCell))
    _check_method(m, path)
    shape = ctx.shape(inputs[0])
    _, reset = _equal_leak_reset(m, path, shape)
    a_m = _rate(m, m.p.tau_mem_inv, shape, path, "tau_mem_inv")
    a_s = _rate(m, m.p.tau_syn_inv, shape, path, "tau_syn_inv")
    theta = _array(m.p.v_th, shape, path, m, "v_th") - reset
    node = ctx.add(LIFExt, inputs, path, decay=1.0 - a_m, gain=a_m, syn_decay=1.0 - a_s, threshold=theta,
                   comparison=">", reset="zero", reset_timing="immediate")
    return node, None


def lif_box_cell(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> Any:
    _check_placement(ctx, m, path, inputs, per_step=True)
    _check_method(m, path)
    shape = ctx.shape(inputs[0])
    a_m = _rate(m, m.p.tau_mem_inv, shape, path, "tau_mem_inv")
    v_th = _array(m.p.v_th, shape, path, m, "v_th")
    if m.p.reset_method is reset_value:
        _, reset = _equal_leak_reset(m, path, shape)
        theta, kind = v_th - reset, "zero"
    elif m.p.reset_method is reset_subtract:
        if np.any(_array(m.p.v_leak, shape, path, m, "v_leak") != 0):
            raise _refuse("SNC701", path, m, "reset_subtract with v_leak ≠ 0: the reset subtracts v_th but the "
                          "spike is decided against v_th − v_leak", "use v_leak = 0 with reset_subtract")
        theta, kind = v_th, "subtract"
    else:
        raise _refuse("SNC701", path, m, f"reset_method {getattr(m.p.reset_method, '__name__', m.p.reset_method)}",
                      "use norse.torch.functional.reset.reset_value or reset_subtract")
    node = ctx.add(ir.LIF, inputs, path, decay=1.0 - a_m, gain=a_m, threshold=theta[None], comparison=">",
                   reset=kind)
    return node, None


def lift(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> Any:
    """Lift(module): module runs once per timestep on [B, ...]; a stateful one gets its state threaded."""
    if ctx.batch_dims != 2 or ctx.per_step:
        raise _refuse("SNC702", path, m, "Lift inside a per-step or [T·B, ...] body", "use Lift at the "
                      "[T, B, ...] level")
    inner = m.lifted_module
    threaded = isinstance(inner, (SNNCell, SequentialState))
    outer = ctx.batch_dims, ctx.per_step, getattr(ctx, _THREADED, False)
    ctx.batch_dims, ctx.per_step = 1, True
    setattr(ctx, _THREADED, threaded)
    try:
        out = convert_submodule(ctx, inner, f"{path}.lifted_module" if path else "lifted_module", inputs)
    finally:
        ctx.batch_dims, ctx.per_step = outer[:2]
        setattr(ctx, _THREADED, outer[2])
    spikes = out[0] if isinstance(out, tuple) else out
    return (spikes, None) if m.is_stateful else spikes


def sequential_state(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> Any:
    """SequentialState: children in order; returns (output, states). A stateful child (one whose forward
    takes `state`) returns (output, state) and passes on the output; any other child's result is passed
    on whole, which only a following Lift accepts (it drops the state of a (output, state) pair)."""
    value: Any = inputs[0]
    for index, (child_name, child) in enumerate(m.named_children()):
        child_path = f"{path}.{child_name}" if path else child_name
        if isinstance(value, tuple) and isinstance(child, Lift):
            value = value[0]
        if not isinstance(value, str):
            raise _refuse("SNC101", child_path, child, "receives the (output, state) pair of the previous child",
                          "only Lift accepts a pair; put the cell inside the Lift or use the sequence module LIF")
        value = convert_submodule(ctx, child, child_path, [value])
        if m.stateful_layers[index] and isinstance(value, tuple):
            value = value[0]
    return value, None


@checks_subclasses
def _unsupported(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    raise _refuse("SNC700", path, m, "this norse module has no snncompile converter",
                  "supported: LIF, Lift(LIFCell), Lift(LIFBoxCell), Lift(SequentialState(...)), SequentialState; "
                  "or register your own with snncompile.register_converter")


if AVAILABLE:
    register_converter(LIF, lif)
    register_converter(LIFCell, lif)
    register_converter(LIFBoxCell, lif_box_cell)
    register_converter(Lift, lift)
    register_converter(SequentialState, sequential_state)
    for _base in (SNN, SNNCell, SNNRecurrent, SNNRecurrentCell):
        register_converter(_base, _unsupported)
    for _cls in (LIF, LIFCell, LIFBoxCell, Lift, SequentialState):
        allow_class(_cls)
