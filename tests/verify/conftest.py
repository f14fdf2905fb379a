"""Fixtures for the verify tests: a small randomized spiking CNN and the shipped example models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import snncompile.nn as snn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"


def build_small() -> nn.Sequential:
    """conv (stride 2) + tdBN + LIF, dense + LIF, readout: 1x8x8 input, T = 4; every layer Loihi-legal."""
    model = nn.Sequential(
        snn.TimeDistributed(nn.Conv2d(1, 4, 3, 2, 1, bias=False)), snn.TDBatchNorm(4), snn.LIF(),
        snn.TimeDistributed(nn.Flatten(), nn.Linear(64, 16)), snn.LIF(),
        snn.Readout(16, 10),
    )
    model.input_shape, model.timesteps = (1, 8, 8), 4
    return model


@pytest.fixture
def small_model(randomize: Callable[..., nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    calibration = torch.rand(4, 8, 1, 8, 8, dtype=torch.float64)
    return randomize(build_small(), calibration, seed=3, gain=2.0)


@pytest.fixture
def example() -> Callable[[str], Path]:
    def path(name: str) -> Path:
        found = EXAMPLES / f"{name}.pt"
        if not found.is_file():
            pytest.skip(f"{found} is not there (examples/train_all.py writes it)")
        return found
    return path
