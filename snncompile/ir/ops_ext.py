"""Neuron semantics of SNN libraries that ir.LIF cannot express: a synaptic current and snntorch's reset timings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncompile.ir.base import Op, Shape, ShapeError, param_fits
from snncompile.ir.ops_neuron import COMPARISONS, fan_in_shape
from snncompile.ir.traits import Neuron

RESET_TIMINGS = ("immediate", "delayed", "double")


@dataclass(frozen=True, eq=False)
class LIFExt(Op, Neuron):
    """Binary LIF with an optional synaptic current and a choice of reset timing. Per neuron n, with
    i[-1] = v[-1] = 0 and x[t] the sum of all inputs (synaptic fan-in):

        i[t] = syn_decay[n] · i[t−1] + x[t]          (syn_decay None: i[t] = x[t], no synaptic state)
        h[t] = decay[n] · v[t−1] + gain[n] · i[t]    (gain None means 1)
        [·] is ">" or "≥" (`comparison`); θ = threshold[n]

    reset_timing "immediate" (as ir.LIF: the spike of this step resets this step's membrane):
        s[t] = [h[t] > θ];  v[t] = h[t]·(1 − s[t]) "zero" | h[t] − θ·s[t] "subtract" | h[t] "none"
    reset_timing "delayed" (snntorch reset_delay=True: the reset of step t is decided by the previous
    membrane, r[t] = [v[t−1] > θ], and is not decayed):
        v[t] = h[t] − θ·r[t]        "subtract"
        v[t] = h[t]·(1 − r[t])      "zero"     (snntorch Synaptic: the new membrane is cleared)
        s[t] = [v[t] > θ]
    reset_timing "double" (snntorch reset_delay=False with "subtract": a membrane still above threshold
    after its subtraction is subtracted again before the next decision), r[t] = [v[t−1] > θ]:
        s[t] = [h[t] − θ·r[t] > θ];  v[t] = h[t] − θ·s[t]

    "immediate" with syn_decay is the current-based (CUBA) LIF of norse and Loihi. The arrays are stored at their
    natural granularity (ir.base.compact_param: size 1 on constant axes).
    """

    decay: np.ndarray = None  # type: ignore[assignment]
    threshold: np.ndarray = None  # type: ignore[assignment]
    syn_decay: np.ndarray | None = None
    gain: np.ndarray | None = None
    comparison: str = ">"
    reset: str = "zero"
    reset_timing: str = "immediate"
    kind: ClassVar[str] = "lif_ext"
    arity: ClassVar[int | None] = None
    granular: ClassVar[dict[str, int]] = {"decay": 0, "threshold": 0, "syn_decay": 0, "gain": 0}

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = fan_in_shape(self, in_shapes)
        for name in ("decay", "threshold", "syn_decay", "gain"):
            value = getattr(self, name)
            if value is not None and not param_fits(value.shape, shape):
                raise ShapeError(f"`{name}` has shape {list(value.shape)}, expected {list(shape)} "
                                 "(or 1 on constant axes)")
        return shape

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes)
        if self.comparison not in COMPARISONS:
            problems.append(f"comparison must be one of {COMPARISONS}, not {self.comparison!r}")
        allowed = {"immediate": ("zero", "subtract", "none"), "delayed": ("zero", "subtract"),
                   "double": ("subtract",)}.get(self.reset_timing)
        if allowed is None:
            problems.append(f"reset_timing must be one of {RESET_TIMINGS}, not {self.reset_timing!r}")
        elif self.reset not in allowed:
            problems.append(f"reset_timing {self.reset_timing!r} allows reset {allowed}, not {self.reset!r}")
        return problems
