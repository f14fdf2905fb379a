"""Spiking neuron modules (LIF, MLF, S2NN) over sequences shaped [T, B, ...]."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from snncompile.nn.surrogate import s2nn_spike, spike


class LIF(nn.Module):
    """Leaky integrate-and-fire, v[-1] = 0, strict comparison:
        h[t] = decay · v[t−1] + x[t]
        s[t] = [h[t] > v_th]
        v[t] = h[t] · (1 − s[t])  (reset "zero")  or  h[t] − v_th · s[t]  (reset "subtract")
    Surrogate gradient: rectangle of width `width` around v_th.
    """

    def __init__(self, decay: float = 0.25, v_th: float = 0.5, reset: str = "zero",
                 width: float = 1.0) -> None:
        super().__init__()
        if reset not in ("zero", "subtract"):
            raise ValueError(f"reset must be 'zero' or 'subtract', not {reset!r}")
        self.decay, self.v_th, self.reset, self.width = float(decay), float(v_th), reset, float(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            h = self.decay * v + x[t]
            s = spike(h - self.v_th, strict=True, width=self.width)
            v = h * (1 - s) if self.reset == "zero" else h - self.v_th * s
            out.append(s)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"decay={self.decay}, v_th={self.v_th}, reset={self.reset}"


class MLF(nn.Module):
    """Multi-level firing neuron: K independent membranes sharing the input, each with its own threshold
    and hard reset; the output is the number of levels that fired (0..K). For each level k:
        h_k[t] = decay · v_k[t−1] + x[t];  s_k[t] = [h_k[t] > V_k];  v_k[t] = h_k[t] · (1 − s_k[t])
        out[t] = Σ_k s_k[t]
    Surrogate: a rectangle of width `width` around each V_k.
    """

    def __init__(self, thresholds: Sequence[float] = (0.6, 1.6, 2.6), decay: float = 0.25,
                 width: float = 1.0) -> None:
        super().__init__()
        if not thresholds:
            raise ValueError("MLF needs at least one level")
        self.thresholds = tuple(float(v) for v in thresholds)
        self.decay, self.width = float(decay), float(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vs = [torch.zeros_like(x[0]) for _ in self.thresholds]
        out = []
        for t in range(x.shape[0]):
            total = torch.zeros_like(x[0])
            for k, v_k in enumerate(self.thresholds):
                h = self.decay * vs[k] + x[t]
                s = spike(h - v_k, strict=True, width=self.width)
                vs[k] = h * (1 - s)
                total = total + s
            out.append(total)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"thresholds={self.thresholds}, decay={self.decay}"


class S2NN(nn.Module):
    """Single-step neuron (S2NN, T = 1): no state, non-strict comparison: s[t] = [x[t] ≥ v_th].
    With T > 1 every step is independent. Surrogate: spikingjelly's S2NN (α = 4, β = 1)."""

    def __init__(self, v_th: float = 1.0, alpha: float = 4.0, beta: float = 1.0) -> None:
        super().__init__()
        self.v_th, self.alpha, self.beta = float(v_th), float(alpha), float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return s2nn_spike(x - self.v_th, self.alpha, self.beta)

    def extra_repr(self) -> str:
        return f"v_th={self.v_th}"
