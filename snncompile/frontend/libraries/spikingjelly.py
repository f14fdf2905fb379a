"""Converters for spikingjelly.activation_based: IF/LIF/PLIF/MPBN-LIF neurons, step-mode layers, containers.

Registered only if spikingjelly imports. Semantics reproduced (functional/neuron.py, _ops/*/reference.py):
charge h = v + (x − (v − v_reset))/τ (decay_input) or v − (v − v_reset)/τ + x, spike [h − V_th ≥ 0]
(non-strict), hard reset to v_reset (memory starts at v_reset) or soft reset h − V_th (starts at 0).
With u = v − v_reset this is ir.LIF: decay 1 − 1/τ, gain 1/τ or 1, threshold V_th − v_reset, "≥".
Multi-step modules (step_mode "m") run at the [T, B, ...] level; single-step neurons only inside a
MultiStepContainer or a stateful StepModeContainer (one timestep per call, state kept across calls).
The compiled network starts from the library's initial state (what functional.reset_net gives).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.errors import CompileError, error
from snncompile.frontend.pytorch import torch_nn
from snncompile.frontend.pytorch.converters import ConvertContext, checks_subclasses, register_converter
from snncompile.frontend.pytorch.load import allow_class
from snncompile.frontend.pytorch.tracer import convert_submodule

try:
    from spikingjelly.activation_based import base, layer, neuron, surrogate
    from spikingjelly.activation_based.neuron import mpbn
except ImportError:  # the frontend works without spikingjelly
    AVAILABLE = False
else:
    AVAILABLE = True


LibraryModule = Any
"""A spikingjelly module: spikingjelly ships no type information, so its attributes are unknown to the type checker."""


SUPPORTED = ("neuron.IFNode", "neuron.LIFNode", "neuron.ParametricLIFNode", "neuron.MPBNLIFNode",
             "layer.Conv2d", "layer.Linear", "layer.BatchNorm2d", "layer.ThresholdDependentBatchNorm2d",
             "layer.Flatten", "layer.AvgPool2d", "layer.MaxPool2d", "layer.Dropout", "layer.SeqToANNContainer",
             "layer.MultiStepContainer", "layer.StepModeContainer")


def _name(m: LibraryModule) -> str:
    cls = type(m)
    return f"{cls.__module__}.{cls.__qualname__}"


def _refuse(code: str, path: str, m: LibraryModule, what: str, hint: str) -> CompileError:
    return error(code, f"`{path}` ({_name(m)}): {what}", origin=path, hint=hint)


def _exact(m: LibraryModule, cls: type, path: str) -> None:
    if type(m) is not cls:
        raise _refuse("SNC700", path, m, f"subclass of {cls.__qualname__}; its dynamics may differ",
                      f"register a converter for {type(m).__qualname__} (snncompile.register_converter)")


@contextmanager
def _granularity(ctx: ConvertContext, batch_dims: int, per_step: bool) -> Iterator[None]:
    outer = ctx.batch_dims, ctx.per_step
    ctx.batch_dims, ctx.per_step = batch_dims, per_step
    try:
        yield
    finally:
        ctx.batch_dims, ctx.per_step = outer


def _check_multi_step_level(ctx: ConvertContext, m: LibraryModule, path: str) -> None:
    """A multi-step module must receive [T, B, ...]: the top level, not a per-step or T·B body."""
    if ctx.batch_dims != 2 or ctx.per_step:
        raise _refuse("SNC702", path, m, "step_mode='m' inside a container that calls it per timestep "
                      "or on [T·B, ...]: it would treat the batch axis as time",
                      "use step_mode='s' inside MultiStepContainer, or move the module out of the container")


def _check_time(ctx: ConvertContext, m: LibraryModule, path: str) -> None:
    if m.step_mode == "m":
        _check_multi_step_level(ctx, m, path)
    elif not ctx.per_step:
        raise _refuse("SNC702", path, m, "a single-step (step_mode='s') neuron here sees the whole input at "
                      "once, not one timestep per call",
                      "call functional.set_step_mode(net, 'm'), or wrap the per-step network in "
                      "layer.MultiStepContainer")


def _check_neuron(ctx: ConvertContext, m: LibraryModule, path: str) -> None:
    _check_time(ctx, m, path)
    if getattr(m, "_neuron_precision", None) is not None:
        raise _refuse("SNC701", path, m, "explicit neuron precision (reduced-precision state)",
                      "compile the float32/float64 model")
    _check_surrogate(m, path)


def _check_surrogate(m: LibraryModule, path: str) -> None:
    fn = m.surrogate_function
    if isinstance(fn, surrogate.SurrogateFunctionBase) and not fn.spiking:
        raise _refuse("SNC701", path, m, "surrogate_function with spiking=False outputs analog values",
                      "use spiking=True (the default)")
    probe = torch.tensor([-1.0, -1e-12, 0.0, 1e-12, 1.0], dtype=torch.float64)
    try:
        with torch.no_grad():
            ok = bool(torch.equal(fn(probe).to(probe.dtype), (probe >= 0).to(probe.dtype)))
    except Exception:
        ok = False
    if not ok:
        raise _refuse("SNC701", path, m, f"surrogate_function {type(fn).__name__} does not fire as the "
                      "Heaviside step [x ≥ 0] in the forward pass", "use a spikingjelly surrogate")


def _full(value: object, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()


def _channel(values: object, shape: tuple[int, ...]) -> np.ndarray:
    """A per-channel vector (or scalar) broadcast over a (C, ...) sample."""
    vec = np.broadcast_to(np.asarray(values, dtype=np.float64).reshape(-1), (shape[0],))
    return np.broadcast_to(vec.reshape((-1,) + (1,) * (len(shape) - 1)), shape).copy()


def _np(t: object) -> np.ndarray:
    return torch.as_tensor(t).detach().cpu().double().numpy()


def _charge(m: LibraryModule) -> tuple[float, float | None]:
    """(decay, input gain) of lif_charge: decay 1 − 1/τ, gain 1/τ (decay_input) or 1 (None)."""
    tau = float(m.tau)
    return 1.0 - 1.0 / tau, (1.0 / tau if m.decay_input else None)


def _plain_lif(ctx: ConvertContext, path: str, inputs: list[str], decay: float, gain: float | None,
               v_threshold: object, v_reset: float | None) -> str:
    shape = ctx.shape(inputs[0])
    theta = np.asarray(v_threshold, dtype=np.float64) - (0.0 if v_reset is None else v_reset)
    return ctx.add(ir.LIF, inputs, path, decay=_full(decay, shape), threshold=_channel(theta, shape)[None],
                   comparison=">=", reset="subtract" if v_reset is None else "zero",
                   gain=None if gain is None else _full(gain, shape))


def if_node(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    _exact(m, neuron.IFNode, path)
    _check_neuron(ctx, m, path)
    return _plain_lif(ctx, path, inputs, 1.0, None, m.v_threshold, m.v_reset)


def lif_node(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    _exact(m, neuron.LIFNode, path)
    _check_neuron(ctx, m, path)
    return _plain_lif(ctx, path, inputs, *_charge(m), m.v_threshold, m.v_reset)


def plif_node(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    """PLIF: 1/τ = sigmoid(w) learned; the value of the checkpoint is a constant decay."""
    _exact(m, neuron.ParametricLIFNode, path)
    _check_neuron(ctx, m, path)
    q = float(m.w.detach().sigmoid())
    return _plain_lif(ctx, path, inputs, 1.0 - q, q if m.decay_input else None, m.v_threshold, m.v_reset)


# ---------------------------------------------------------------------------------------------------------
# MPBNLIFNode: h = charge(v, x); BN of the membrane; the normalized value is the carried state


def _mpbn_threshold(m: LibraryModule, path: str, channels: int) -> np.ndarray:
    """V_th per channel: the float, a per-channel tensor (folded after learnable_vth), or exp(a)."""
    if getattr(m, "learnable_vth", False):
        if m.v_reset is None:
            raise _refuse("SNC701", path, m, "learnable_vth with soft reset: spikes are decided against "
                          "exp(a) per channel but the reset subtracts the scalar v_threshold",
                          "use a hard reset (v_reset=0.0), or fold with re_parameterize_v_threshold()")
        return np.broadcast_to(np.exp(_np(m.a)).reshape(-1), (channels,))
    value = np.asarray(_np(m.v_threshold)).reshape(-1)
    if value.size != 1 and m.v_reset is None:
        raise _refuse("SNC701", path, m, "per-channel v_threshold with soft reset (the library subtracts "
                      "a [C] tensor from an [N, C, ...] membrane)", "use a hard reset (v_reset=0.0)")
    return np.broadcast_to(value, (channels,))


def _drive(ctx: ConvertContext, path: str, inputs: list[str], scale: np.ndarray, bias: np.ndarray,
           shape: tuple[int, ...]) -> tuple[list[str], np.ndarray | None]:
    """The neuron drive scale_c·x + bias_c as the LIF's per-neuron gain after a bias-only ir.BatchNorm
    (μ = 0, σ² = 1, ε = 0: y = x + bias_c/scale_c, exact), so that fold-norm only has to move an offset
    (into the producing conv's bias, also through residual adds). Returns (LIF inputs, gain)."""
    c = scale.shape[0]
    if np.all(scale != 0):
        weight, bias = np.ones(c), bias / scale
        gain = None if np.all(scale == 1.0) else _channel(scale, shape)
    else:  # a channel with γ = 0 takes only the constant: keep the scale in the norm
        weight, gain = scale, None
    if np.all(weight == 1.0) and np.all(bias == 0.0):
        return inputs, gain
    return [ctx.add(ir.BatchNorm, inputs, path, name=f"{path}.membrane_affine", mean=np.zeros(c),
                    var=np.ones(c), weight=weight, bias=bias, eps=0.0, scale=1.0, eps_inside=True)], gain


def mpbn_lif_node(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    """Decay fold (docs/FOLDING.md §4): with a = γ/√(σ² + ε), b = β − aμ, d = 1 − 1/τ, g = 1/τ or 1.

    Unfolded (vbn is a BatchNorm), the state is u = BN(h) = a·h + b. Hard reset to r, in u − r: decay a·d,
    drive (a·g)·x + (a·r + b − r), threshold V − r, "≥", reset zero. Soft reset: decay a·d, drive
    (a·g)·x + b, threshold V, subtract. Exact for any sign of γ.
    Folded with normalize_residual=False: a plain LIF on the raw h, threshold θ_c − r where
    θ_c = (V − β)·√(σ² + ε)/γ + μ is the library's own folded threshold.
    Folded with normalize_residual=True (hard reset): the carried state is a·h + b below threshold, r after a
    spike; in y = h − K, K = (r − b)/a: decay a·d, drive g·x + (r − K), threshold θ_c − K, reset zero.
    """
    _exact(m, mpbn.MPBNLIFNode, path)
    _check_neuron(ctx, m, path)
    shape = ctx.shape(inputs[0])
    c = shape[0]
    d, gain = _charge(m)
    g = 1.0 if gain is None else gain
    r = m.v_reset
    v_th = _mpbn_threshold(m, path, c)
    if isinstance(m.vbn, nn.modules.batchnorm._BatchNorm):
        return _mpbn_unfolded(ctx, m, path, inputs, shape, d, g, v_th)
    if not m.fold_bn:  # mpbn=False: a plain LIF
        return _plain_lif(ctx, path, inputs, d, gain, v_th, r)
    if r is None:
        raise _refuse("SNC701", path, m, "folded MPBN (re_parameterize_v_threshold) with soft reset: the "
                      "membrane is compared with the folded threshold but reduced by the unfolded V_th"
                      + (" and re-normalized only below threshold" if m.normalize_residual else
                         ", which needs a non-zero initial state"),
                      "compile the unfolded model (before re_parameterize_v_threshold), or use a hard reset")
    gamma, beta, mu = _np(m.gamma), _np(m.beta), _np(m.mu)
    std = np.sqrt(_np(m.sigma2) + float(m.eps))
    if np.any(gamma == 0):
        raise _refuse("SNC701", path, m, "a channel has γ = 0: its folded threshold is infinite",
                      "remove the dead channels before compiling")
    theta_c = (v_th - beta) * std / gamma + mu
    if not m.normalize_residual:
        return _plain_lif(ctx, path, inputs, d, gain, theta_c, r)
    a = gamma / std
    offset = (r - (beta - a * mu)) / a  # K
    drive, drive_gain = _drive(ctx, path, inputs, np.full(c, g), r - offset, shape)
    return ctx.add(ir.LIF, drive, path, decay=_channel(a * d, shape), threshold=_channel(theta_c - offset, shape)[None],
                   comparison=">=", reset="zero", gain=drive_gain)


def _mpbn_unfolded(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str], shape: tuple[int, ...],
                   d: float, g: float, v_th: np.ndarray) -> str:
    bn = m.vbn
    if bn.running_mean is None or bn.running_var is None:
        raise _refuse("SNC701", path, m, "the membrane BatchNorm has no running statistics (batch statistics "
                      "at inference)", "train with track_running_stats=True")
    c = shape[0]
    gamma = _np(bn.weight) if bn.affine else np.ones(c)
    beta = _np(bn.bias) if bn.affine else np.zeros(c)
    a = gamma / np.sqrt(_np(bn.running_var) + float(bn.eps))
    b = beta - a * _np(bn.running_mean)
    r = m.v_reset
    if r is None:
        (drive, gain), theta, reset = _drive(ctx, path, inputs, a * g, b, shape), v_th, "subtract"
    else:
        (drive, gain), theta, reset = _drive(ctx, path, inputs, a * g, a * r + b - r, shape), v_th - r, "zero"
    return ctx.add(ir.LIF, drive, path, decay=_channel(a * d, shape), threshold=_channel(theta, shape)[None],
                   comparison=">=", reset=reset, gain=gain)


# ---------------------------------------------------------------------------------------------------------
# Step-mode layers and containers


def _stateless(torch_converter: Callable[..., str]) -> Callable[..., str]:
    """A spikingjelly wrapper of a torch layer: the same IR per timestep in either step mode."""
    def convert(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
        if m.step_mode == "m":
            _check_multi_step_level(ctx, m, path)
        return torch_converter(ctx, m, path, inputs)
    return convert


def flatten(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    """Multi-step Flatten runs on [T·B, ...]: its start_dim counts one leading axis."""
    if m.step_mode == "s":
        return torch_nn.flatten(ctx, m, path, inputs)
    _check_multi_step_level(ctx, m, path)
    with _granularity(ctx, 1, False):
        return torch_nn.flatten(ctx, m, path, inputs)


def td_batchnorm(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    """tdBN at inference is a plain BN (α·V_th only initialises γ), applied to [T·B, ...]."""
    _check_multi_step_level(ctx, m, path)
    return torch_nn.batchnorm(ctx, m, path, inputs)


def dropout(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.Identity, inputs, path, reason="dropout")


def _children(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    current: list[str] = inputs
    for child_name, child in m.named_children():
        out = convert_submodule(ctx, child, f"{path}.{child_name}" if path else child_name, current)
        if not isinstance(out, str):
            raise _refuse("SNC101", f"{path}.{child_name}", child, "returns several values inside a container",
                          "containers pass one tensor from child to child")
        current = [out]
    return current[0]


def seq_to_ann(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    """SeqToANNContainer: the children run once on [T·B, ...] (stateless layers only)."""
    _check_multi_step_level(ctx, m, path)
    with _granularity(ctx, 1, False):
        return _children(ctx, m, path, inputs)


def multi_step_container(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    """MultiStepContainer: the children run once per timestep on [B, ...]; single-step neurons keep state."""
    _check_multi_step_level(ctx, m, path)
    with _granularity(ctx, 1, True):
        return _children(ctx, m, path, inputs)


def step_mode_container(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    if m.step_mode == "s":
        return _children(ctx, m, path, inputs)
    return (multi_step_container if m.stateful else seq_to_ann)(ctx, m, path, inputs)


@checks_subclasses
def _unsupported(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    raise _refuse("SNC700", path, m, "this spikingjelly module has no snncompile converter",
                  "supported: " + ", ".join(SUPPORTED) + "; or register your own with snncompile.register_converter")


def _register() -> None:
    for cls, fn in ((neuron.IFNode, if_node), (neuron.LIFNode, lif_node), (neuron.ParametricLIFNode, plif_node),
                    (mpbn.MPBNLIFNode, mpbn_lif_node)):
        register_converter(cls, fn)
    for cls, fn in ((layer.Conv2d, torch_nn.conv2d), (layer.BatchNorm2d, torch_nn.batchnorm),
                    (layer.AvgPool2d, torch_nn.avgpool), (layer.MaxPool2d, torch_nn.maxpool)):
        register_converter(cls, _exact_then(cls, _stateless(fn)))
    register_converter(layer.Flatten, _exact_then(layer.Flatten, flatten))
    register_converter(layer.ThresholdDependentBatchNorm2d,
                       _exact_then(layer.ThresholdDependentBatchNorm2d, td_batchnorm))
    register_converter(layer.Dropout, dropout)
    register_converter(layer.SeqToANNContainer, seq_to_ann)
    register_converter(layer.MultiStepContainer, multi_step_container)
    register_converter(layer.StepModeContainer, step_mode_container)
    # Everything else from the library fails with its path, class and this list, instead of being traced into.
    register_converter(base.StepModule, _unsupported)
    register_converter(base.MemoryModule, _unsupported)
    for value in vars(layer).values():
        if isinstance(value, type) and issubclass(value, nn.Sequential) and value.__module__.startswith(
                "spikingjelly") and value not in (layer.SeqToANNContainer, layer.MultiStepContainer,
                                                   layer.StepModeContainer):
            register_converter(value, _unsupported)
    for cls in (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode, mpbn.MPBNLIFNode, layer.Conv2d,
                layer.Linear, layer.BatchNorm2d, layer.ThresholdDependentBatchNorm2d, layer.Flatten,
                layer.AvgPool2d, layer.MaxPool2d, layer.Dropout, layer.SeqToANNContainer,
                layer.MultiStepContainer, layer.StepModeContainer, *_surrogates()):
        allow_class(cls)


def _exact_then(cls: type, fn: Callable[..., str]) -> Callable[..., str]:
    def convert(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
        _exact(m, cls, path)
        return fn(ctx, m, path, inputs)
    return convert


def _surrogates() -> list[type]:
    return [v for v in vars(surrogate).values()
            if isinstance(v, type) and issubclass(v, surrogate.SurrogateFunctionBase)]


if AVAILABLE:
    _register()
