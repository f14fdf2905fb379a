"""Converters for the STBP-tdBN reference code (thiswinex/STBP-simple): tdLayer, tdBatchNorm, LIFSpike.

Semantics (layers.py, setting.py of the repository), all on time-last tensors [B, ..., T]:
- tdLayer(layer, bn=None, steps): `layer` runs on each timestep x[..., t]; then `bn` on the whole tensor.
- tdBatchNorm (a BatchNorm2d subclass with `alpha`): y = α·VTH·(x − μ)/√(σ² + ε)·γ + β per channel, running
  statistics at inference; α = 1/√2 on the residual branch and the downsample of a ResNet block.
- LIFSpike(steps): u[t] = TAU·u[t−1]·(1 − o[t−1]) + x[t], o[t] = [u[t] − VTH > 0] (VTH 0.2, TAU 0.25 in
  setting.py), stateless between calls: one module instance may be called at several places of the network,
  each call is its own IR neuron.
The model's input is time-last; `x.view(x.shape[0], -1, x.shape[4])` flattens features and
`torch.sum(x, dim=2) / steps` is the firing rate of the output layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snncompile import ir
from snncompile.frontend.papers.match import (
    attr,
    bn_stats,
    check_steps,
    constants,
    full,
    mismatch,
    need_axes,
    probe,
    register_all,
    require,
)
from snncompile.frontend.pytorch.converters import ConvertContext

REPO = "STBP-tdBN (thiswinex/STBP-simple)"
LAYOUT = "time-last tensors [B, ..., T]"


def _time_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(*range(1, x.dim()), 0)


def _time_first(y: torch.Tensor) -> torch.Tensor:
    return y.permute(y.dim() - 1, *range(y.dim() - 1))


def lif_spike(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    """ir.LIF: decay TAU, threshold VTH, strict, reset to zero (the reset multiplies by 1 − o[t−1])."""
    require(m, path, REPO, {"steps": int})
    need_axes(ctx, path, m, REPO, ("B",), "T", LAYOUT)
    steps = attr(m, "steps", int)
    check_steps(ctx, path, m, steps)
    k = constants(m, path, REPO, ("TAU", "VTH"))
    shape = ctx.shape(inputs[0])

    def build(c: ConvertContext, ins: list[str]) -> str:
        return c.add(ir.LIF, ins, path, decay=full(k["TAU"], c.shape(ins[0])),
                     threshold=full(k["VTH"], (1, *c.shape(ins[0]))), comparison=">", reset="zero")

    probe(m, path, REPO, build, shape, steps, _time_last, _time_first, scale=k["VTH"] * 2,
          what=f"a LIF with decay TAU = {k['TAU']}, threshold VTH = {k['VTH']}, reset to zero")
    return build(ctx, inputs)


def td_batchnorm(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    """STBP's tdBatchNorm (BatchNorm2d subclass on [B, C, H, W, T]) or MLF-DSResNet's (wraps `.bn`)."""
    if isinstance(m, nn.BatchNorm2d):
        require(m, path, REPO, {"alpha": (int, float)})
        need_axes(ctx, path, m, REPO, ("B",), "T", LAYOUT)
        vth = constants(m, path, REPO, ("VTH",))["VTH"]
        fields: dict[str, Any] = dict(bn_stats(m, path, m), scale=float(attr(m, "alpha", float)) * vth, eps_inside=True)
        shape = ctx.shape(inputs[0])

        def build(c: ConvertContext, ins: list[str]) -> str:
            return c.add(ir.BatchNorm, ins, path, **fields)

        probe(m, path, REPO, build, shape, 2, _time_last, _time_first, exact=False,
              what=f"tdBN y = alpha·VTH·(x − μ)/√(σ² + ε)·γ + β with VTH = {vth}")
        return build(ctx, inputs)
    from snncompile.frontend.papers.mlf_dsresnet import td_batchnorm as mlf_td_batchnorm

    if isinstance(getattr(m, "bn", None), nn.BatchNorm2d):
        return mlf_td_batchnorm(ctx, m, path, inputs)
    raise mismatch(path, m, REPO, "is neither a BatchNorm2d subclass with `alpha` (STBP-tdBN) nor a module "
                   "wrapping a BatchNorm2d `bn` (MLF-DSResNet)")


def td_layer(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str | tuple[str | None, ...]:
    """`layer` per timestep (it sees [B, ...]), then `bn` on the time-last tensor."""
    require(m, path, REPO, {"layer": nn.Module, "steps": int})
    axes = need_axes(ctx, path, m, REPO, ("B",), "T", LAYOUT)
    check_steps(ctx, path, m, attr(m, "steps", int))
    bn = getattr(m, "bn", None)
    if bn is not None and not isinstance(bn, nn.Module):
        raise mismatch(path, m, REPO, "has a `bn` that is not a module")
    outer = ctx.batch_dims, ctx.axes
    ctx.batch_dims, ctx.axes = 1, axes[:-1]
    try:
        out = ctx.convert(attr(m, "layer", nn.Module), f"{path}.layer", inputs)
    finally:
        ctx.batch_dims, ctx.axes = outer
    if bn is not None:
        if not isinstance(out, str):
            raise mismatch(path, m, REPO, "has a `layer` with several outputs before its `bn`")
        out = ctx.convert(bn, f"{path}.bn", [out])
    return out


def layout_hint(model: nn.Module) -> tuple[str, int] | None:
    """Models built from these modules take time-last input; T is the modules' `steps`."""
    for m in model.modules():
        if type(m).__qualname__ in ("LIFSpike", "tdLayer") and isinstance(getattr(m, "steps", None), int):
            return "time_last", attr(m, "steps", int)
    return None


CONVERTERS = {"LIFSpike": lif_spike, "tdBatchNorm": td_batchnorm, "tdLayer": td_layer}
register_all(CONVERTERS)
