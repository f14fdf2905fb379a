"""Spiking ResNet with tdBN (LIF neurons, T = 4) on sklearn digits -> models/tdbn_resnet.pt."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits
import torch
from torch import nn

from snncompile.nn import LIF, Readout, SpikingBasicBlock, TDBatchNorm, TimeDistributed

NAME, T, C = "tdbn_resnet", 4, 16


def build() -> nn.Sequential:
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(1, C, 3, 1, 1, bias=False)),
        TDBatchNorm(C),
        LIF(),
        SpikingBasicBlock(C, C),
        SpikingBasicBlock(C, 2 * C, stride=2),
        SpikingBasicBlock(2 * C, 2 * C),
        TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        Readout(2 * C, digits.NUM_CLASSES),
    )


def main() -> float:
    digits.setup(0)
    return digits.run(NAME, build(), T, epochs=30, lr=3e-3)


if __name__ == "__main__":
    torch.set_num_threads(digits.THREADS)
    main()
