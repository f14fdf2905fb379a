"""Input encoding for Loihi: binary spikes, or graded integer payloads x_int = clamp(⌊x·scale + 1/2⌋, low, high)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from snncompile.targets.loihi.caps import LoihiOptions


@dataclass(frozen=True)
class InputEncoding:
    """How real input values become the integer payloads sent to the first layer (bits 0: binary spikes)."""

    kind: str
    scale: float
    low: int
    high: int
    bits: int

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "formula": "x_int = clamp(floor(x * scale + 0.5), low, high)"}

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(np.asarray(x, dtype=np.float64) * self.scale + 0.5), self.low, self.high)


BINARY = InputEncoding("binary", 1.0, 0, 1, 0)


def grid_of(x: np.ndarray, limit: int) -> int | None:
    """The smallest integer q ≤ limit with x·q integral everywhere (x already on a grid), else None."""
    flat = np.unique(np.asarray(x, dtype=np.float64))
    for q in range(1, limit + 1):
        scaled = flat * q
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-9):
            return q
    return None


def choose_encoding(opts: LoihiOptions) -> InputEncoding:
    """The encoding the options ask for, refined by calibration data when given."""
    data = None if opts.calibration is None else np.asarray(opts.calibration, dtype=np.float64)
    binary_data = data is not None and bool(np.all((data == 0) | (data == 1)))
    if opts.input_encoding == "binary" or (opts.input_encoding == "auto" and binary_data):
        return BINARY
    bits = int(opts.input_bits)
    signed = data is not None and bool(np.any(data < 0))
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if opts.input_scale is not None:
        scale = float(opts.input_scale)
    elif data is not None and data.size:
        peak = float(np.max(np.abs(data))) or 1.0
        q = grid_of(data, high)
        scale = float(q) if q is not None and q * peak <= high else high / peak
    else:
        scale = high / opts.input_max
    return InputEncoding("graded", scale, low, high, bits)
