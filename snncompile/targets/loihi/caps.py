"""Loihi 2 (Lava netx) capabilities, number formats and compile options, as data (docs/LOIHI.md sections 3-4)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncompile import ir
from snncompile.targets.base import Capabilities
from snncompile.targets.loihi.ops import Encode, LoihiLIF, SkipDense, WindowReadout

WEIGHT_MAX = 254
"""Largest integer weight: even integers in [−256, 254] are exact through netx and raw Lava Dense."""
WEIGHT_MIN = -256
WEIGHT_MIN_SINGLE_SIGN = -254
"""All-negative matrices are clipped to −255 by Lava's inhibitory sign mode, so they stop at −254."""
THRESHOLD_MAX = 2**17 - 1
BIAS_MAX = 2**12 - 1
BIAS_MIN = -(2**12)
DECAY_UNITY = 4096
DELAY_MAX = 62
STATE_LIMIT = 2**23
"""u wraps once past ±2^23; v saturates at ±(2^23 − 1)."""
SHIFT = 6
"""Synaptic input, bias and threshold are MSB-aligned by 2^6 inside the neuron."""
A_NO_WRAP = STATE_LIMIT // 2**SHIFT - 1
"""Largest |A| whose u = 64·A cannot wrap (with a memoryless current)."""
A_PORT = 2**15
"""Lava ports declare 16-bit synaptic sums; its CPU simulator does not enforce it."""
A_EXACT = 2**31 // 2**SHIFT - STATE_LIMIT
"""Past this |A| Lava's int32 current arithmetic itself overflows: no model can match it."""



def weight_step(bits: int) -> int:
    """Spacing of the integer weights a `bits`-wide mantissa holds: 2 for 8 bits, 2^(9 − bits) in general."""
    return 2 ** (9 - bits)


def weight_top(bits: int) -> int:
    """Largest |weight| of a `bits`-wide mantissa used symmetrically: 254 for 8 bits."""
    return WEIGHT_MAX + 2 - weight_step(bits)


LOIHI_OPS_SUPPORTED = frozenset({
    ir.Input, ir.Dense, ir.Conv2d, ir.Pool2d, ir.MaxPool2d, ir.Flatten, ir.LIF, ir.Readout,
    LoihiLIF, Encode, SkipDense, WindowReadout,
})

LOIHI_CAPABILITIES = Capabilities(
    ops=LOIHI_OPS_SUPPORTED, per_neuron_thresholds=False, number_format="fixed (8-bit weights x2, 24-bit state)",
    arithmetic="loihi-fixed", runtime="lava", weight_bits=8,
    notes=(
        "one vThMant (unsigned 17-bit) and one pair of 12-bit decays per layer",
        "even integer weights in [-256, 254]; 13-bit signed biases (Lava stores int16)",
        "one timestep per synaptic hop; skip synapses outside the netx chain with DelayDense delays <= 62",
        "binary spikes between layers; graded integer payloads only at the network input",
    ))


@dataclass(frozen=True)
class LoihiOptions:
    """Options of the Loihi target (the CLI's --loihi-* flags are generated from these fields' metadata).

    input_encoding: "auto" (binary if calibration data is 0/1, else graded), "binary" or "graded".
    input_bits / input_scale: graded payload width and integer steps per real input unit (None: from the
    calibration data, else (2^bits − 1) / input_max).
    overflow: "avoid" caps each layer's scale so the worst-case |A| cannot wrap u; "warn" only reports.
    calibration: optional input data [T, B, ...], or a data spec as for `snncompile verify --data` (`digits`,
    `random`, FILE.npz, a .npy directory, module:function, tonic:NAME@ROOT; docs/DATA.md) loaded for the model's
    input shape and T (a file's `calibration` array, a tonic training split, else the first 256 samples);
    measured drives refine the overflow caps and the input scale.
    scales: for a layer with no exact integer form, "bounds" takes the largest threshold scale every bound
    allows; "calibrated" (with calibration data) searches scales and a vThMant offset for the fewest
    teacher-forced spike disagreements with the float layer (targets/loihi/calibrate.py).
    weight_bits: b < 8 keeps weights on multiples of 2^(9 − b) in [−256, 256 − 2^(9 − b)] (what a b-bit mantissa
    with Lava's weight exponent holds), to measure what fewer bits cost (snncompile sweep).
    allow: approximations accepted instead of refused: "non-strict" compiles a ≥ threshold on a leaky
    membrane as > (they differ only where the integer membrane equals 64·vThMant exactly); each use is warned
    (SNC611) and recorded in the manifest's `approximations`.
    max_chips: the most Loihi 2 chips the network may need by the resource plan (docs/LOIHI.md §9); more is
    refused (SNC641), more than one is warned (SNC640). Default 8, one Kapoho Point board.
    """

    input_encoding: str = field(default="auto", metadata={
        "choices": ("auto", "binary", "graded"),
        "help": "input payloads: binary spikes or graded integers (auto: binary if the calibration data is 0/1)"})
    input_bits: int = field(default=8, metadata={"min": 1, "max": 24, "help": "graded payload width (default 8)"})
    input_scale: float | None = field(default=None, metadata={
        "min_open": 0.0, "help": "integer steps per real input unit (default: from the calibration data or input max)"})
    input_max: float = field(default=1.0, metadata={
        "min_open": 0.0, "help": "largest real input without calibration data (default 1.0)"})
    overflow: str = field(default="avoid", metadata={
        "choices": ("avoid", "warn"),
        "help": "avoid: cap each layer's scale so the current cannot wrap (default); warn: only report"})
    calibration: np.ndarray | str | None = field(default=None, metadata={
        "metavar": "SPEC",
        "help": "input data that refines the input scale and the overflow caps: a data spec as for verify --data "
                "(FILE.npz: `calibration`, else the first 256 samples of `x`; tonic:NAME@ROOT: the training split)"})
    timesteps: int | None = field(default=None, metadata={"cli": False})
    scales: str = field(default="bounds", metadata={
        "choices": ("bounds", "calibrated"),
        "help": "approximate layers: the largest scale the bounds allow (default), or calibrated: the scale and "
                "threshold offset with the fewest spike disagreements on the calibration data (slower)"})
    weight_bits: int = field(default=8, metadata={
        "min": 2, "max": 8, "help": "weight mantissa bits (default 8: even integers in [-256, 254]; b bits: "
                                    "multiples of 2^(9-b))"})
    allow: frozenset[str] = field(default=frozenset(), metadata={
        "choices": ("non-strict",), "multiple": True,
        "help": "accept this approximation instead of refusing the model (warned, recorded in the manifest): "
                "non-strict compiles a leaky ≥ threshold as >"})
    max_chips: int = field(default=8, metadata={
        "min": 1, "help": "refuse networks whose resource plan needs more Loihi 2 chips than this (default 8: one "
                          "Kapoho Point board)"})


LOIHI_APPROXIMATIONS = ("non-strict",)
"""What LoihiOptions.allow may contain."""
