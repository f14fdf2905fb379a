"""Sequence plumbing: apply per-timestep torch layers to [T, B, ...] tensors, and the readout."""

from __future__ import annotations

import torch
from torch import nn


class TimeDistributed(nn.Sequential):
    """Applies ordinary torch layers (conv, pooling, BN, flatten, ...) to every timestep:
    y[t] = f(x[t]), computed on the merged [T·B, ...] batch. Inner layers see [B, ...] tensors, so
    inner `nn.Flatten()` keeps its default start_dim=1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.reshape(t, b, *y.shape[1:])


class Readout(nn.Module):
    """Non-spiking classifier head: y = (1/T) Σ_t (W x[t] + b), input [T, B, F], output [B, classes]."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).mean(0)
