"""Converters for snntorch neurons (Leaky, Synaptic) and TimeLoop, the container that runs a per-step net over time.

snntorch neurons process one timestep per call and keep their state in the module (init_hidden=True, or
called without a state argument), so a network built from them is compiled through `TimeLoop(net)`,
whose forward is the usual snntorch loop: reset the hidden states, y[t] = net(x[t]), stack.
Semantics reproduced (snntorch/_neurons/leaky.py, synaptic.py): spike [mem − θ > 0] (strict), decay
clamp(β, 0, 1), the reset chosen by reset_mechanism and reset_delay:
  zero        → ir.LIF reset zero (Leaky, either delay); Synaptic: ir LIFExt "delayed"/"immediate" zero
  subtract    → LIFExt "delayed" (reset_delay=True: m[t] = β·m[t−1] + x[t] − θ·[m[t−1] > θ], not decayed)
                or "double" (reset_delay=False: a membrane still above θ is subtracted again)
  none        → ir.LIF / LIFExt reset none
Registered only if snntorch imports (TimeLoop itself needs no library).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.errors import CompileError, error
from snncompile.frontend.pytorch.converters import ConvertContext, checks_subclasses, register_converter
from snncompile.frontend.pytorch.load import allow_class
from snncompile.frontend.pytorch.tracer import convert_submodule
from snncompile.ir.ops_ext import LIFExt

try:
    import snntorch
    from snntorch._neurons.neurons import SpikingNeuron
except ImportError:  # the frontend works without snntorch
    AVAILABLE = False
else:
    AVAILABLE = True


LibraryModule = Any
"""A snntorch module: snntorch ships no type information, so its attributes are unknown to the type checker."""


class TimeLoop(nn.Module):
    """Runs a per-step network over a [T, B, ...] input from a fresh state: y[t] = net(x[t]), stacked.

    The hidden state of every submodule with `reset_mem()` (snntorch neurons) is cleared first. When `net`
    returns a tuple (a last layer with output=True: spikes, state...), its first element is used."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.net.modules():
            reset_mem = getattr(m, "reset_mem", None)
            if reset_mem is not None:
                reset_mem()
        outputs = []
        for t in range(x.shape[0]):
            y = self.net(x[t])
            outputs.append(y[0] if isinstance(y, tuple) else y)
        return torch.stack(outputs)


@register_converter(TimeLoop)
def time_loop(ctx: ConvertContext, m: TimeLoop, path: str, inputs: list[str]) -> str:
    """The body sees one timestep [B, ...] per call and its neurons keep their state between calls."""
    if ctx.batch_dims != 2 or ctx.per_step:
        raise error("SNC702", f"`{path}` (TimeLoop) is nested inside a per-step or [T·B, ...] body", origin=path,
                    hint="use TimeLoop once, around the whole per-step network")
    outer = ctx.batch_dims, ctx.per_step
    ctx.batch_dims, ctx.per_step = 1, True
    try:
        out = convert_submodule(ctx, m.net, f"{path}.net" if path else "net", inputs)
    finally:
        ctx.batch_dims, ctx.per_step = outer
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, str):
        raise error("SNC101", f"`{path}`: the per-step network's first output is not its spike tensor",
                    origin=path, hint="return the spikes (first) from the per-step network")
    return out


allow_class(TimeLoop)


def _name(m: LibraryModule) -> str:
    return f"{type(m).__module__}.{type(m).__qualname__}"


def _refuse(code: str, path: str, m: LibraryModule, what: str, hint: str) -> CompileError:
    return error(code, f"`{path}` ({_name(m)}): {what}", origin=path, hint=hint)


def _full(value: torch.Tensor, shape: tuple[int, ...], path: str, m: LibraryModule, what: str) -> np.ndarray:
    array = value.detach().cpu().double().numpy()
    try:
        return np.broadcast_to(array, shape).copy()
    except ValueError:
        raise _refuse("SNC701", path, m, f"{what} of shape {list(array.shape)} does not broadcast to one "
                      f"timestep's features {list(shape)}", "use a scalar or a per-neuron tensor") from None


def _mechanism(m: LibraryModule, cls: type[LibraryModule], path: str) -> str:
    """The reset forward() really runs: state_function is bound at construction, reset_mechanism_val is
    read by the reset_delay=False branch; a later change of reset_mechanism updates only the latter."""
    fn = getattr(m.state_function, "__func__", None)
    by_function = {cls._base_sub: "subtract", cls._base_zero: "zero", cls._base_int: "none"}.get(fn)
    by_value = ("subtract", "zero", "none")[int(m.reset_mechanism_val)]
    if by_function is None or by_function != by_value:
        raise _refuse("SNC701", path, m, f"the reset in use ({by_function}) differs from reset_mechanism "
                      f"({by_value}), e.g. reset_mechanism changed after construction",
                      "construct the neuron with the reset_mechanism you want")
    return by_value


def _check(ctx: ConvertContext, m: LibraryModule, cls: type[LibraryModule], path: str, inputs: list[str]) -> None:
    if type(m) is not cls:
        raise _refuse("SNC700", path, m, f"subclass of snntorch.{cls.__name__}; its dynamics may differ",
                      f"register a converter for {type(m).__qualname__} (snncompile.register_converter)")
    if not ctx.per_step:
        raise _refuse("SNC702", path, m, "snntorch neurons process one timestep per call, but here the module "
                      "would receive the whole [T, B, ...] sequence at once",
                      "wrap the per-step network: snncompile.frontend.libraries.snntorch.TimeLoop(net)")
    if len(inputs) != 1:
        raise _refuse("SNC701", path, m, "the neuron state is passed in as an argument (explicit state)",
                      "use init_hidden=True, or call the neuron with its input only")
    if m.inhibition:
        raise _refuse("SNC701", path, m, "inhibition=True (winner-take-all across the batch axis)",
                      "train without inhibition")
    if m.state_quant:
        raise _refuse("SNC701", path, m, "state_quant quantizes the membrane inside the neuron",
                      "quantization is the target's job; train without state_quant")
    if not torch.all(m.graded_spikes_factor == 1):
        raise _refuse("SNC701", path, m, "graded_spikes_factor ≠ 1 (graded spikes)",
                      "use graded_spikes_factor=1.0 and fold the factor into the next layer's weights")
    _check_surrogate(m, path)


def _check_surrogate(m: LibraryModule, path: str) -> None:
    fn = m.spike_grad
    known = getattr(fn, "__module__", "") == "snntorch.surrogate" or fn is SpikingNeuron._surrogate_bypass
    probe = torch.tensor([-1.0, -1e-12, 0.0, 1e-12, 1.0], dtype=torch.float64)
    try:
        with torch.no_grad():
            ok = known and bool(torch.equal(fn(probe).double(), (probe > 0).double()))
    except Exception:
        ok = False
    if not ok:
        raise _refuse("SNC701", path, m, "spike_grad is not an snntorch.surrogate function whose forward "
                      "pass is the step [x > 0]", "use a surrogate from snntorch.surrogate")


def _outputs(m: LibraryModule, spikes: str, states: int) -> str | tuple[str | None, ...]:
    """forward() returns spk alone with init_hidden=True (and output=False), else (spk, *states)."""
    if m.init_hidden and not m.output:
        return spikes
    return (spikes, *([None] * states))


def leaky(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str | tuple[str | None, ...]:
    _check(ctx, m, snntorch.Leaky, path, inputs)
    shape = ctx.shape(inputs[0])
    decay = _full(m.beta.clamp(0, 1), shape, path, m, "beta")
    theta = _full(m.threshold, shape, path, m, "threshold")
    mechanism = _mechanism(m, snntorch.Leaky, path)
    if mechanism == "subtract":
        timing = "delayed" if m.reset_delay else "double"
        node = ctx.add(LIFExt, inputs, path, decay=decay, threshold=theta, comparison=">", reset="subtract",
                       reset_timing=timing)
    else:
        # zero: m[t] = β·(1 − s[t−1])·m[t−1] + x[t] is ir.LIF's zero reset (the same with reset_delay=False
        # once θ ≥ 0, when the double-reset branch never triggers)
        _no_negative_threshold(m, theta, mechanism, path)
        node = ctx.add(ir.LIF, inputs, path, decay=decay, threshold=theta[None], comparison=">", reset=mechanism)
    return _outputs(m, node, 1)


def synaptic(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str | tuple[str | None, ...]:
    """syn[t] = α·syn[t−1] + x[t];  mem[t] = β·mem[t−1] + syn[t], with the reset as in LIFExt."""
    _check(ctx, m, snntorch.Synaptic, path, inputs)
    shape = ctx.shape(inputs[0])
    fields: dict[str, Any] = {"decay": _full(m.beta.clamp(0, 1), shape, path, m, "beta"),
                              "syn_decay": _full(m.alpha.clamp(0, 1), shape, path, m, "alpha"),
                              "threshold": _full(m.threshold, shape, path, m, "threshold"), "comparison": ">"}
    mechanism = _mechanism(m, snntorch.Synaptic, path)
    if mechanism == "subtract":
        timing = "delayed" if m.reset_delay else "double"
    elif mechanism == "zero":
        _no_negative_threshold(m, fields["threshold"], mechanism, path)
        timing = "delayed" if m.reset_delay else "immediate"  # Synaptic clears the *new* membrane
    else:
        timing = "immediate"
    node = ctx.add(LIFExt, inputs, path, reset=mechanism, reset_timing=timing, **fields)
    return _outputs(m, node, 2)


def _no_negative_threshold(m: LibraryModule, theta: np.ndarray, mechanism: str, path: str) -> None:
    if mechanism == "zero" and not m.reset_delay and np.any(theta < 0):
        raise _refuse("SNC701", path, m, "reset_delay=False with reset 'zero' and a negative threshold (the "
                      "double-reset branch then rescales the membrane)", "use a threshold ≥ 0 or reset_delay=True")


@checks_subclasses
def _unsupported(ctx: ConvertContext, m: LibraryModule, path: str, inputs: list[str]) -> str:
    raise _refuse("SNC700", path, m, "this snntorch neuron has no snncompile converter",
                  "supported: snntorch.Leaky and snntorch.Synaptic inside TimeLoop; or register your own "
                  "with snncompile.register_converter")


if AVAILABLE:
    register_converter(snntorch.Leaky, leaky)
    register_converter(snntorch.Synaptic, synaptic)
    register_converter(SpikingNeuron, _unsupported)
    allow_class(snntorch.Leaky)
    allow_class(snntorch.Synaptic)
