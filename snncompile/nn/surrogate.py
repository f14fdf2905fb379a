"""Spike functions: exact Heaviside forward passes with surrogate gradients for training."""

from __future__ import annotations

from typing import Any

import torch


class RectangleSpike(torch.autograd.Function):
    """Forward [x > 0] (strict) or [x ≥ 0]; backward 1/width inside |x| < width/2, else 0."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, width: float, strict: bool) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.width = width
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        window = (x.abs() < ctx.width / 2).to(grad.dtype) / ctx.width
        return grad * window, None, None


class S2NNSpike(torch.autograd.Function):
    """Forward [x ≥ 0]; backward α·σ'(αx) for x < 0 and β/(x + 1) for x ≥ 0 (spikingjelly's S2NN)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha, ctx.beta = alpha, beta
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        sig = torch.sigmoid(ctx.alpha * x)
        negative = ctx.alpha * sig * (1 - sig)
        positive = ctx.beta / (x.clamp(min=0) + 1)
        return grad * torch.where(x < 0, negative, positive), None, None


def spike(x: torch.Tensor, strict: bool = True, width: float = 1.0) -> torch.Tensor:
    return RectangleSpike.apply(x, width, strict)


def s2nn_spike(x: torch.Tensor, alpha: float = 4.0, beta: float = 1.0) -> torch.Tensor:
    return S2NNSpike.apply(x, alpha, beta)
