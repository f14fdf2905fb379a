"""Normalizations for deep SNNs: tdBN on currents, MPBN on membranes, PSP-norm (second raw moment)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from snncompile.nn.surrogate import spike


def _channel_shape(x: torch.Tensor, channel_dim: int) -> list[int]:
    shape = [1] * x.dim()
    shape[channel_dim] = x.shape[channel_dim]
    return shape


class TDBatchNorm(nn.Module):
    """Threshold-dependent BN on a current sequence [T, B, C, ...], per channel c:
        y = ((x − μ_c) / D_c) · (λ_c · α · V_th) + β_c
        D_c = √(σ²_c + ε)   (eps_inside=True, STBP-simple / MPBN repo)
            = √σ²_c + ε     (eps_inside=False, MLF-DSResNet)
    Training normalizes with the batch statistics over (T, B, H, W) (biased variance) and keeps running
    estimates (unbiased variance); eval uses the running estimates. Plain BN is alpha·v_th = 1.
    """

    running_mean: torch.Tensor  # buffers, registered in __init__
    running_var: torch.Tensor

    def __init__(self, num_features: int, alpha: float = 1.0, v_th: float = 0.5, eps: float = 1e-5,
                 momentum: float = 0.1, eps_inside: bool = True) -> None:
        super().__init__()
        self.num_features, self.alpha, self.v_th = num_features, float(alpha), float(v_th)
        self.eps, self.momentum, self.eps_inside = float(eps), float(momentum), bool(eps_inside)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    @property
    def scale(self) -> float:
        return self.alpha * self.v_th

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = _channel_shape(x, 2)
        if self.training:
            dims = [d for d in range(x.dim()) if d != 2]
            mean = x.mean(dims)
            var = x.var(dims, unbiased=False)
            with torch.no_grad():
                n = x.numel() / x.shape[2]
                unbiased = var * n / max(n - 1, 1)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        denom = torch.sqrt(var + self.eps) if self.eps_inside else torch.sqrt(var) + self.eps
        gain = self.weight * self.scale
        return (x - mean.view(shape)) / denom.view(shape) * gain.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, alpha={self.alpha:.4g}, v_th={self.v_th}, eps_inside={self.eps_inside}"


class PSPNorm(nn.Module):
    """PSP-norm on a sequence [T, B, C, ...], per channel c, without mean subtraction:
        y = x · (γ_c / √(m2_c + ε)) (+ β_c if affine_bias)
    m2 is the second raw moment E[x²] over (T, B, H, W): the batch value in training, its running
    estimate in eval.
    """

    running_moment2: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine_bias: bool = False) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine_bias else None
        self.register_buffer("running_moment2", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = _channel_shape(x, 2)
        if self.training:
            m2 = x.pow(2).mean([d for d in range(x.dim()) if d != 2])
            with torch.no_grad():
                self.running_moment2.lerp_(m2.detach(), self.momentum)
        else:
            m2 = self.running_moment2
        y = x * (self.weight / torch.sqrt(m2 + self.eps)).view(shape)
        return y if self.bias is None else y + self.bias.view(shape)


class MPBNLIF(nn.Module):
    """LIF with membrane-potential BN (MPBN, official yfguo91/MPBN form), v[-1] = 0:
        h[t] = decay · v[t−1] + x[t]
        m̂[t] = ((h[t] − μ) / √(σ² + ε)) · γ + β
        s[t] = [m̂[t] / v_th > fire_level]
        v[t] = h[t] · (1 − s[t])   (reset "zero", on the raw membrane)  or  h[t] − s[t]  ("subtract")
    Channel-wise (μ, σ², γ, β per channel; `shape` = (C, ...)) or element-wise (per neuron). In training
    the BN uses each step's batch statistics (over B, and H, W when channel-wise).
    """

    running_mean: torch.Tensor  # buffers, registered in __init__
    running_var: torch.Tensor

    def __init__(self, shape: Sequence[int] | int, elementwise: bool = False, decay: float = 0.25,
                 v_th: float = 1.0, fire_level: float = 0.5, reset: str = "zero", eps: float = 1e-5,
                 momentum: float = 0.1, width: float = 1.0) -> None:
        super().__init__()
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.elementwise = bool(elementwise)
        if reset not in ("zero", "subtract"):
            raise ValueError(f"reset must be 'zero' or 'subtract', not {reset!r}")
        self.decay, self.v_th, self.fire_level, self.reset = float(decay), float(v_th), float(fire_level), reset
        self.eps, self.momentum, self.width = float(eps), float(momentum), float(width)
        param_shape = self.shape if elementwise else (self.shape[0],) + (1,) * (len(self.shape) - 1)
        self.weight = nn.Parameter(torch.ones(param_shape))
        self.bias = nn.Parameter(torch.zeros(param_shape))
        self.register_buffer("running_mean", torch.zeros(param_shape))
        self.register_buffer("running_var", torch.ones(param_shape))

    def _norm(self, h: torch.Tensor) -> torch.Tensor:
        if self.training:
            dims = [0] if self.elementwise else [0, *list(range(2, h.dim()))]
            mean = h.mean(dims, keepdim=True)[0]
            var = h.var(dims, unbiased=False, keepdim=True)[0]
            with torch.no_grad():
                n = h.numel() / mean.numel()
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach() * n / max(n - 1, 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (h - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            h = self.decay * v + x[t]
            s = spike(self._norm(h) / self.v_th - self.fire_level, strict=True, width=self.width)
            v = h * (1 - s) if self.reset == "zero" else h - s
            out.append(s)
        return torch.stack(out)

    def folded_threshold(self) -> torch.Tensor:
        """The raw-membrane threshold each neuron is equivalent to at inference, signed so that a
        compiled neuron fires iff its (for γ < 0: negated) membrane exceeds it:
            θ_eff = sign(γ) · (μ + (fire_level·v_th − β) · √(σ² + ε) / γ)
        Differentiable in γ and β; θ_eff ≤ 0 means the neuron fires on zero input, which targets with
        unsigned thresholds (Loihi) cannot run."""
        denom = torch.sqrt(self.running_var + self.eps)
        gamma = torch.where(self.weight == 0, torch.full_like(self.weight, 1e-12), self.weight)
        theta = self.running_mean + (self.fire_level * self.v_th - self.bias) * denom / gamma
        return torch.sign(gamma) * theta

    def extra_repr(self) -> str:
        return f"shape={self.shape}, elementwise={self.elementwise}, decay={self.decay}, v_th={self.v_th}"


def official_mpbn_threshold(m: nn.Module) -> torch.Tensor:
    """θ_eff per channel of the official MPBN code's LIFAct (yfguo91/MPBN: fires when bn(mem)/V_th > 0.5),
    signed as MPBNLIF.folded_threshold: sign(γ)·(μ + (0.5·V_th − β)·√(σ² + ε)/γ)."""
    bn = cast(nn.BatchNorm2d, m.bn)  # LIFAct's `bn` (deployability_penalty selects LIFAct by its BatchNorm2d)
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        raise ValueError(f"{type(m).__qualname__}.bn has no running statistics (track_running_stats=False): "
                         "its folded threshold is undefined")
    gamma = torch.where(bn.weight == 0, torch.full_like(bn.weight, 1e-12), bn.weight)
    theta = mean + (0.5 * float(cast(float, m.V_th)) - bn.bias) * torch.sqrt(var + bn.eps) / gamma
    return torch.sign(gamma) * theta


def deployability_penalty(model: nn.Module, margin: float = 0.05) -> torch.Tensor:
    """Σ relu(margin − θ_eff) over every MPBNLIF neuron (and every LIFAct of the official MPBN code): add it
    to the training loss to keep folded thresholds positive, so the trained network can be compiled for
    unsigned-threshold targets."""
    terms = [torch.relu(margin - m.folded_threshold()).sum() for m in model.modules() if isinstance(m, MPBNLIF)]
    terms += [torch.relu(margin - official_mpbn_threshold(m)).sum() for m in model.modules()
              if type(m).__qualname__ == "LIFAct" and isinstance(getattr(m, "bn", None), nn.BatchNorm2d)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


SHORTCUT_ALPHA = 1 / math.sqrt(2)
"""tdBN's α for the last BN of a residual branch and for the shortcut BN."""
