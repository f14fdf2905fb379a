"""Input encoding for Loihi: binary spikes, or graded integer payloads x_int = clamp(⌊x·scale + 1/2⌋, low, high)."""

from __future__ import annotations

import dataclasses
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
    free: bool = False
    peak: float = 1.0
    rms: float = 0.5
    exact: bool = False
    """True when every (calibration) input is an integer multiple of 1/scale: the payloads lose nothing."""

    def to_json(self) -> dict[str, Any]:
        fields = {k: v for k, v in asdict(self).items() if k in ("kind", "scale", "low", "high", "bits", "exact")}
        return {**fields, "formula": "x_int = clamp(floor(x * scale + 0.5), low, high)"}

    @property
    def payload_max(self) -> float:
        return float(max(self.high, -self.low))

    def clamped(self) -> InputEncoding:
        """The payload range cut down to the encoded peak (inputs beyond the calibrated or declared peak
        are clipped), with the fewest payload bits that hold it."""
        top = int(min(max(self.high, -self.low), np.floor(self.peak * self.scale + 0.5)))
        low = -top if self.low < 0 else 0
        bits = int(np.ceil(np.log2(top + 1))) + (1 if self.low < 0 else 0)
        return dataclasses.replace(self, low=low, high=top, bits=max(bits, 1))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(np.asarray(x, dtype=np.float64) * self.scale + 0.5), self.low, self.high)


BINARY = InputEncoding("binary", 1.0, 0, 1, 0, exact=True)


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
    peak = float(np.max(np.abs(data))) if data is not None and data.size else opts.input_max
    peak = peak or 1.0
    rms = float(np.sqrt(np.mean(data**2))) if data is not None and data.size else peak / np.sqrt(3)
    if opts.input_scale is not None:
        scaled = None if data is None else data * float(opts.input_scale)
        exact = scaled is not None and bool(np.all(np.abs(scaled - np.round(scaled)) < 1e-9))
        return InputEncoding("graded", float(opts.input_scale), low, high, bits, False, peak, rms,
                             exact and float(opts.input_scale) * peak <= max(high, -low)).clamped()
    q = grid_of(data, high) if data is not None and data.size else None
    if q is not None and q * peak <= high:
        return InputEncoding("graded", float(q), low, high, bits, False, peak, rms, True).clamped()
    return InputEncoding("graded", high / peak, low, high, bits, True, peak, rms)


def balance_scale(enc: InputEncoding, vth_cap: float, w_max: float, w_rms: float) -> InputEncoding:
    """A free input scale Q trading input against weight rounding for the first layer.

    Integer weights are vth·w/Q (w: weights in threshold units) and payloads Q·x, so the drive error is
    ≈ Q·|x|/vth (weight steps) + |w|/Q (input steps), smallest at Q = sqrt(vth·|w|/|x|); Q also may not
    push the largest weight past 254 (Q ≥ vth·w_max/253) nor the peak input past the payload range.
    """
    if not enc.free or w_max <= 0 or not np.isfinite(vth_cap):
        return enc.clamped()
    best = np.sqrt(vth_cap * w_rms / max(enc.rms, 1e-12))
    q = float(np.clip(best, vth_cap * w_max / 253.0, max(enc.high, -enc.low) / enc.peak))
    return dataclasses.replace(enc, scale=max(q, 1.0 / enc.peak)).clamped()
