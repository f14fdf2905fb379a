"""The `loihi` target: netx HDF5 + manifest for Lava/Loihi 2, with a bit-exact fixed-point simulator.

The names below are imported on first use, so that reading LoihiOptions (the CLI's --loihi-* flags, --help)
does not import torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snncompile.lazy import lazy_attributes

if TYPE_CHECKING:
    from snncompile.targets.loihi.caps import LoihiOptions
    from snncompile.targets.loihi.numerics import LOIHI_OPS, simulate_loihi
    from snncompile.targets.loihi.target import LOIHI, LoihiTarget

_LAZY = {"LoihiOptions": "snncompile.targets.loihi.caps", "LOIHI_OPS": "snncompile.targets.loihi.numerics",
         "simulate_loihi": "snncompile.targets.loihi.numerics", "LoihiTarget": "snncompile.targets.loihi.target",
         "LOIHI": "snncompile.targets.loihi.target"}

__all__ = ["LOIHI", "LOIHI_OPS", "LoihiOptions", "LoihiTarget", "simulate_loihi"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
