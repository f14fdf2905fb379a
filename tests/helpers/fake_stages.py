"""Verification stages with made-up outputs, importable by spawned worker processes (sharding tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from snncompile.errors import error
from snncompile.verification.data import VerifyData
from snncompile.verification.source import ArraySource
from snncompile.verification.stages import Layer, Stage, StageOutput

LAYERS = [Layer("a", "net.a", (3,), 1), Layer("b", "net.b", (2, 2), 2)]


@dataclass
class Thresholds(Stage):
    """Spikes of layer a: x > 0.5 on the first 3 inputs; of layer b: the level count of 4 inputs (0, 1 or 2);
    logits: spike counts of b. `flip`: a per-(step, sample, neuron) draw below it flips layer b's lowest level,
    so that a later stage diverges from an earlier one at sample-dependent places. `missing`: layer b is not
    recorded (with a reason that names the batch, as real reasons do)."""

    flip: float = 0.0
    missing: bool = False

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        a = (flat[..., :3] > 0.5).astype(np.float64)
        b = np.floor(2.999 * flat[..., 3:7]).reshape(*flat.shape[:2], 2, 2)
        if self.flip:
            draw = flat[..., 7:11].reshape(b.shape)
            b = np.where(draw < self.flip, np.where(b > 0, b - 1, b + 1), b)
        spikes = {"a": a} if self.missing else {"a": a, "b": b}
        logits = b.reshape(*b.shape[:2], 4).sum(0)
        events = {"b": {"wraps": int(np.sum(b == 2)), "saturations": int(np.sum(a))}}
        pops = {"a": (float(a.sum()), int(a.size)), "b": (float(b.sum()), int(b.size))}
        reasons = {"b": f"not recorded in a batch of {x.shape[1]}"} if self.missing else {}
        return StageOutput(spikes, logits, dtype, events, pops, reasons)


@dataclass
class Exits(Stage):
    """A stage whose process dies (os._exit) while it runs: a worker killed for memory, as the parent sees it."""

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        os._exit(7)


@dataclass
class Refuses(Stage):
    """A stage that raises a user error (CompileError)."""

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        raise error("SNC902", "refused on purpose", hint="a test stage")


def stages(flip: float = 0.1, missing: bool = False) -> list[Stage]:
    """A reference and two later stages: the second exact, the third flipping some decisions of layer b."""
    return [Thresholds("ref", "reference"), Thresholds("same", "exact copy", missing=missing),
            Thresholds("flipped", "diverges", exact=False, flip=flip)]


def frames(samples: int, steps: int = 3, seed: int = 0) -> np.ndarray:
    """Inputs [T, N, 11] uniform in [0, 1)."""
    return np.random.default_rng(seed).random((steps, samples, 11))


def fake_data(x: np.ndarray, labels: np.ndarray | None = None) -> VerifyData:
    """Frames x [T, N, 11] as verification data (values below 0.1 set to exactly 0, so that the input's nonzero
    count is not simply its size)."""
    x = np.where(x < 0.1, 0.0, x)
    return VerifyData(ArraySource("fake", "fake", x.shape[1], x=x, y=labels, frames=True), (11,), x.shape[0], None,
                      None)
