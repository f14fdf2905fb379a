"""Converters for MLF + DS-ResNet (langfengQ/MLF-DSResNet): MLF_unit and its tdBatchNorm, on merged [T·B, ...].

Semantics (parallel_nets/spike_layer_for_*.py of the repository): tensors are [T·B, ...] with the rows of
timestep t at t·B .. (t+1)·B (T = the module constant TimeStep); plain Conv2d / AdaptiveAvgPool2d / Linear
run on them directly.
- MLF_unit: K = 3 membranes (K = 2 when the u3 lines are commented out), each
  u_k[t] = tau·u_k[t−1]·(1 − [u_k[t−1] > Vth_k]) + x[t], output Σ_k [u_k[t] > Vth_k], with Vth = 0.6, Vth2 =
  1.6, Vth3 = 2.6, tau = 0.25: ir.LIF with K threshold levels, reset to zero, strict.
- tdBatchNorm(bn, alpha): y = α·Vth·(x − μ)/(√σ² + ε)·γ + β: ε OUTSIDE the square root (ir.BatchNorm
  eps_inside=False), running statistics of the wrapped BatchNorm2d at inference.
The DS-ResNet block adds the shortcut to the block's spikes ("union of spikes"); the model's output is the
mean over T of the last Linear (a readout).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.frontend.papers.match import (
    attr,
    bn_stats,
    check_steps,
    constants,
    full,
    matches,
    need_axes,
    probe,
    register_all,
    require,
)
from snncompile.frontend.pytorch.converters import ConvertContext

REPO = "MLF-DSResNet (langfengQ/MLF-DSResNet)"
LAYOUT = "merged tensors [T·B, ...] (time-major)"


def _merge(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _splitter(steps: int) -> Any:
    def split(y: torch.Tensor) -> torch.Tensor:
        return y.reshape(steps, y.shape[0] // steps, *y.shape[1:])
    return split


def mlf_unit(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    need_axes(ctx, path, m, REPO, ("TB",), None, LAYOUT)
    k = constants(m, path, REPO, ("Vth", "Vth2", "Vth3", "tau", "TimeStep"))
    steps = int(k["TimeStep"])
    check_steps(ctx, path, m, steps)
    shape = ctx.shape(inputs[0])

    def builder(levels: tuple[float, ...]) -> Any:
        def build(c: ConvertContext, ins: list[str]) -> str:
            s = c.shape(ins[0])
            return c.add(ir.LIF, ins, path, decay=full(k["tau"], s),
                         threshold=np.broadcast_to(np.asarray(levels).reshape((-1,) + (1,) * len(s)),
                                                   (len(levels), *s)).copy(), comparison=">", reset="zero")
        return build

    for levels in ((k["Vth"], k["Vth2"], k["Vth3"]), (k["Vth"], k["Vth2"])):
        if matches(m, builder(levels), shape, steps, _merge, _splitter(steps), scale=k["Vth3"]):
            return builder(levels)(ctx, inputs)
    probe(m, path, REPO, builder((k["Vth"], k["Vth2"], k["Vth3"])), shape, steps, _merge, _splitter(steps),
          scale=k["Vth3"], what=f"an MLF unit with K = 3 (or 2) levels Vth = {k['Vth']}, {k['Vth2']}, "
          f"{k['Vth3']}, decay tau = {k['tau']}, reset to zero")
    raise AssertionError("unreachable: the probe above refuses")


def td_batchnorm(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    """ε outside the root: ir.BatchNorm with eps_inside=False, scale α·Vth."""
    require(m, path, REPO, {"bn": nn.BatchNorm2d, "alpha": (int, float)})
    need_axes(ctx, path, m, REPO, ("TB",), None, LAYOUT)
    vth = constants(m, path, REPO, ("Vth",))["Vth"]
    fields: dict[str, Any] = dict(bn_stats(attr(m, "bn", nn.BatchNorm2d), path, m),
                                  scale=float(attr(m, "alpha", float)) * vth, eps_inside=False)

    def build(c: ConvertContext, ins: list[str]) -> str:
        return c.add(ir.BatchNorm, ins, path, **fields)

    probe(m, path, REPO, build, ctx.shape(inputs[0]), 2, _merge, _splitter(2), exact=False,
          what=f"tdBN y = alpha·Vth·(x − μ)/(√σ² + ε)·γ + β with Vth = {vth}")
    return build(ctx, inputs)


def layout_hint(model: nn.Module) -> tuple[str, int] | None:
    """Models with MLF_unit take merged [T·B, ...] input; T is the module constant TimeStep."""
    import sys

    for m in model.modules():
        if type(m).__qualname__ == "MLF_unit":
            steps = getattr(sys.modules.get(type(m).__module__), "TimeStep", None)
            if isinstance(steps, int):
                return "merged", steps
    return None


CONVERTERS = {"MLF_unit": mlf_unit}
register_all(CONVERTERS)
