"""CNN with membrane-potential BN (MPBN LIF, channel- and element-wise, T = 4) on sklearn digits -> mpbn_cnn.pt."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits
import torch
from torch import nn

from snncompile.nn import MPBNLIF, Readout, TimeDistributed, deployability_penalty

NAME, T = "mpbn_cnn", 4


def conv_bn(c_in: int, c_out: int) -> TimeDistributed:
    return TimeDistributed(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))


def build() -> nn.Sequential:
    return nn.Sequential(
        conv_bn(1, 16),
        MPBNLIF((16, 8, 8)),
        conv_bn(16, 32),
        MPBNLIF((32, 8, 8)),
        TimeDistributed(nn.MaxPool2d(2)),
        conv_bn(32, 32),
        MPBNLIF((32, 4, 4)),
        TimeDistributed(nn.MaxPool2d(2), nn.Flatten()),
        nn.Linear(32 * 2 * 2, 64),
        MPBNLIF(64, elementwise=True),
        Readout(64, digits.NUM_CLASSES),
    )


def main() -> float:
    digits.setup(0)
    # Loihi thresholds are unsigned: keep every folded MPBN threshold above 0.05 so the net deploys.
    return digits.run(NAME, build(), T, epochs=30, lr=3e-3, penalty=lambda m: deployability_penalty(m, 0.05))


if __name__ == "__main__":
    torch.set_num_threads(digits.THREADS)
    main()
