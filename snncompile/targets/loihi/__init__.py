"""The `loihi` target: netx HDF5 + manifest for Lava/Loihi 2, with a bit-exact fixed-point simulator."""

from __future__ import annotations

from snncompile.targets.loihi.caps import LoihiOptions
from snncompile.targets.loihi.numerics import LOIHI_OPS, simulate_loihi
from snncompile.targets.loihi.target import LoihiTarget

LOIHI = LoihiTarget()
"""The loihi target with default options (`LOIHI.with_options(calibration=x)` for others)."""

__all__ = ["LOIHI", "LOIHI_OPS", "LoihiOptions", "LoihiTarget", "simulate_loihi"]
