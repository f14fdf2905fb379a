"""Converters for the official MPBN code (yfguo91/MPBN): LIFAct, myBatchNorm3d, tdBatchNorm2d, SpikePool/SpikeConv.

Semantics (models/spike_layer.py, spike_model.py of the repository), on [T, B, ...] inside SpikeModel, whose
forward() repeats a [B, C, H, W] input T = `step` times (`input.repeat(step, 1, 1, 1, 1)`):
- LIFAct(step, channel): mem = 0.25·mem + x[t]; fires when bn(mem)/V_th > 0.5 (bn a BatchNorm2d of the raw
  membrane, V_th = 1.0); hard reset of the raw membrane, mem·(1 − spike). Decay 0.25 is a literal of the
  repository's mem_update, so the converter checks it by running the module (as everything it reads).
- myBatchNorm3d(BN, step): a BatchNorm3d over [B, C, T, H, W] (running statistics per channel).
- tdBatchNorm2d(bn, alpha): y = α·V_th·(x − μ)/√(σ² + ε)·γ + β on [T, B, C, H, W], V_th = 0.5.
- SpikePool(pool) / SpikeConv(conv): the wrapped layer on [T·B, ...] or per timestep.
All SpikeModule subclasses compute this only after set_spike_state(True); in ANN mode they are ReLU/plain
layers, which is refused (SNC704).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snncompile import ir
from snncompile.frontend.papers.match import (
    attr,
    bn_stats,
    channel,
    check_steps,
    full,
    mismatch,
    need_axes,
    not_compilable,
    probe,
    register_all,
    require,
)
from snncompile.frontend.pytorch.converters import ConvertContext

REPO = "MPBN (yfguo91/MPBN)"
LAYOUT = "[T, B, ...] tensors"
DECAY = 0.25
FIRE_LEVEL = 0.5


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _spiking(m: nn.Module, path: str) -> None:
    if getattr(m, "_spiking", None) is not True:
        raise not_compilable(path, m, "is in ANN mode (_spiking is not True): it computes ReLU / a plain layer",
                             "call model.set_spike_state(True) before saving or compiling (as the repository's "
                             "evaluation does)")


def lif_act(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    """ir.MPBNLIF: decay 0.25, the BN of `bn` (channel-wise), v_th = V_th, fire level 0.5, reset zero."""
    require(m, path, REPO, {"step": int, "V_th": (int, float), "bn": nn.BatchNorm2d})
    _spiking(m, path)
    need_axes(ctx, path, m, REPO, ("T", "B"), None, LAYOUT)
    step = attr(m, "step", int)
    check_steps(ctx, path, m, step)
    shape = ctx.shape(inputs[0])
    stats = bn_stats(attr(m, "bn", nn.BatchNorm2d), path, m)
    fields: dict[str, Any] = {name: channel(stats[name], shape) for name in ("mean", "var", "weight", "bias")}

    def build(c: ConvertContext, ins: list[str]) -> str:
        return c.add(ir.MPBNLIF, ins, path, decay=full(DECAY, c.shape(ins[0])), eps=stats["eps"],
                     v_th=float(attr(m, "V_th", float)), fire_level=FIRE_LEVEL, reset="zero", **fields)

    probe(m, path, REPO, build, shape, step, _identity, _identity, scale=2.0,
          what=f"an MPBN LIF with decay {DECAY}, firing bn(mem)/V_th > {FIRE_LEVEL}, hard reset of the raw membrane")
    return build(ctx, inputs)


def my_batchnorm3d(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    require(m, path, REPO, {"bn": nn.BatchNorm3d, "step": int})
    _spiking(m, path)
    need_axes(ctx, path, m, REPO, ("T", "B"), None, LAYOUT)
    fields = bn_stats(attr(m, "bn", nn.BatchNorm3d), path, m)

    def build(c: ConvertContext, ins: list[str]) -> str:
        return c.add(ir.BatchNorm, ins, path, scale=1.0, eps_inside=True, **fields)

    probe(m, path, REPO, build, ctx.shape(inputs[0]), 2, _identity, _identity, exact=False,
          what="a BatchNorm3d over [B, C, T, H, W]")
    return build(ctx, inputs)


def td_batchnorm2d(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    """A BatchNorm2d subclass: never BatchNorm2d's converter (its forward scales by α·V_th)."""
    require(m, path, REPO, {"alpha": (int, float), "V_th": (int, float)})
    if not isinstance(m, nn.BatchNorm2d):
        raise mismatch(path, m, REPO, "is not a BatchNorm2d subclass")
    _spiking(m, path)
    need_axes(ctx, path, m, REPO, ("T", "B"), None, LAYOUT)
    fields = dict(bn_stats(m, path, m), scale=float(attr(m, "alpha", float)) * float(attr(m, "V_th", float)),
                  eps_inside=True)

    def build(c: ConvertContext, ins: list[str]) -> str:
        return c.add(ir.BatchNorm, ins, path, **fields)

    probe(m, path, REPO, build, ctx.shape(inputs[0]), 2, _identity, _identity, exact=False,
          what="tdBN y = alpha·V_th·(x − μ)/√(σ² + ε)·γ + β")
    return build(ctx, inputs)


def _wrapper(attribute: str) -> Any:
    def convert(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str | tuple[str | None, ...]:
        """The wrapped layer on [T·B, ...] (SpikePool) or per timestep (SpikeConv): the same IR per step."""
        require(m, path, REPO, {attribute: nn.Module, "step": int})
        _spiking(m, path)
        axes = need_axes(ctx, path, m, REPO, ("T", "B"), None, LAYOUT)
        check_steps(ctx, path, m, attr(m, "step", int))
        outer = ctx.batch_dims, ctx.axes
        ctx.batch_dims, ctx.axes = 1, ("TB", *axes[2:])
        try:
            return ctx.convert(getattr(m, attribute), f"{path}.{attribute}", inputs)
        finally:
            ctx.batch_dims, ctx.axes = outer
    return convert


def my_none(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.Identity, inputs, path, reason="identity")


def layout_hint(model: nn.Module) -> tuple[str, int] | None:
    """SpikeModel repeats a [B, C, H, W] input `step` times; LIFAct elsewhere sees [T, B, ...]."""
    if type(model).__qualname__ == "SpikeModel" and isinstance(getattr(model, "step", None), int):
        ann = [path for path, m in model.named_modules() if getattr(m, "_spiking", True) is not True]
        if ann:  # its forward() would fail on [T, B, ...] in ANN mode before any converter could say why
            raise not_compilable(ann[0] or "(root)", model, f"{len(ann)} SpikeModule(s) are in ANN mode "
                                 f"(_spiking is not True), e.g. `{ann[0] or type(model).__name__}`",
                                 "call model.set_spike_state(True) before saving or compiling (as the "
                                 "repository's evaluation does)")
        return "repeat", attr(model, "step", int)
    for m in model.modules():
        if type(m).__qualname__ == "LIFAct" and isinstance(getattr(m, "step", None), int):
            return "tb", attr(m, "step", int)
    return None


CONVERTERS = {"LIFAct": lif_act, "myBatchNorm3d": my_batchnorm3d, "tdBatchNorm2d": td_batchnorm2d,
              "SpikePool": _wrapper("pool"), "SpikeConv": _wrapper("conv"), "myNone": my_none}
register_all(CONVERTERS)
