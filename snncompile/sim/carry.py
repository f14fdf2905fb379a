"""What an op implementation keeps between the time chunks of one streamed simulation, and the impl protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

Seq = torch.Tensor


@dataclass
class Carry:
    """Per-node state across time chunks: `t0` is the absolute step of the chunk's first frame; `slots` hold the
    op's state tensors (membranes, synaptic currents, a readout's per-step values) under names of its choosing.
    A fresh Carry (t0 = 0, no slots) is a run from the zero state, so impl(op, xs) simulates a whole sequence."""

    t0: int = 0
    slots: dict[str, Any] = field(default_factory=dict)


class OpImpl(Protocol):
    """Numerics of one op on a chunk of frames [C, B, ...] (readouts: [B, classes], the mean so far)."""

    def __call__(self, op: Any, xs: list[Seq], carry: Carry | None = None, /) -> Seq: ...
