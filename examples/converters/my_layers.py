"""A user's own SNN code (the worked example of docs/CONVERTERS.md §8): a neuron snncompile does not know."""

from __future__ import annotations

import torch
from torch import nn


class HardResetNeuron(nn.Module):
    """Over [T, B, ...]: v = decay·v + x; spike if v > threshold; v = 0 after a spike."""

    def __init__(self, decay: float = 0.5, threshold: float = 0.4) -> None:
        super().__init__()
        self.decay, self.threshold = decay, threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, out = torch.zeros_like(x[0]), []
        for t in range(x.shape[0]):
            v = self.decay * v + x[t]
            s = (v > self.threshold).to(x.dtype)
            v = v * (1 - s)
            out.append(s)
        return torch.stack(out)


def build() -> nn.Module:
    """The factory `--factory my_layers:build` calls (the checkpoint is then a state_dict)."""
    from snncompile.nn import TimeDistributed

    torch.manual_seed(0)
    model = nn.Sequential(TimeDistributed(nn.Linear(16, 12)), HardResetNeuron(),
                          TimeDistributed(nn.Linear(12, 4)), HardResetNeuron(0.25, 0.3))
    model.input_shape, model.timesteps = (16,), 5
    return model
