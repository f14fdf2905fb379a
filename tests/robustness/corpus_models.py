"""Small models and hostile objects for the bad-input corpus (importable, so --trust-pickle can load them)."""

from __future__ import annotations

import os

import torch
from torch import nn

import snncompile.nn as snn

SHAPE, STEPS, CLASSES = (1, 6, 6), 5, 3


def small_model() -> nn.Sequential:
    """The one model every case reuses: conv + BN, LIF, flatten, readout (3 classes)."""
    torch.manual_seed(0)
    model = nn.Sequential(snn.TimeDistributed(nn.Conv2d(1, 4, 3, 1, 1), nn.BatchNorm2d(4)), snn.LIF(v_th=0.3),
                          snn.TimeDistributed(nn.Flatten()), snn.Readout(4 * 6 * 6, CLASSES))
    model.input_shape, model.timesteps = SHAPE, STEPS
    return model.eval()


def build_small() -> nn.Module:
    """A --factory function."""
    return small_model()


def build_not_a_module() -> object:
    return {"not": "a module"}


def build_raises() -> nn.Module:
    raise RuntimeError("factory exploded on purpose")


def build_other() -> nn.Module:
    """A different architecture: the small model's state_dict does not fit it."""
    return nn.Sequential(snn.TimeDistributed(nn.Linear(3, 2)), snn.LIF())


class ShapeBranch(nn.Module):
    """Branches on the input's shape (shape-dependent control flow)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 1:
            return x
        return x * 2


class ValueBranch(nn.Module):
    """Branches on the input's values (data-dependent control flow)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x
        return x * 2


class Sigmoid(nn.Module):
    """Calls a function between modules that has no IR op."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = snn.TimeDistributed(nn.Linear(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(x))


def with_block(block: nn.Module) -> nn.Sequential:
    model = nn.Sequential(snn.TimeDistributed(nn.Flatten()), nn.Sequential(block), snn.LIF(), snn.Readout(36, 3))
    model.input_shape, model.timesteps = SHAPE, STEPS
    return model


class Payload:
    """A hostile pickle: unpickling it runs `touch MARKER` (must never happen without --trust-pickle)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)
