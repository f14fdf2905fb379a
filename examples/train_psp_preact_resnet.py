"""50-layer pre-activation ResNet with PSP-norm (LIF neurons) on sklearn digits -> models/psp_preact_resnet.pt."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits
import torch
from torch import nn

from snncompile.nn import LIF, PreActBlock, PSPNorm, Readout, TimeDistributed

NAME, T = "psp_preact_resnet", 4
STAGES = ((16, 8, 1), (32, 8, 2), (32, 8, 1))
"""(channels, blocks, stride of the first block) per stage: 1 stem conv + 48 block convs + readout = 50."""
PSP_GAIN = 0.5
"""Initial PSP-norm γ: at 1.0 about a third of the LIFs fire at every step and the 50-layer net barely learns."""


def build() -> nn.Sequential:
    layers: list[nn.Module] = [TimeDistributed(nn.Conv2d(1, STAGES[0][0], 3, 1, 1, bias=False))]
    c_in = STAGES[0][0]
    for c_out, blocks, stride in STAGES:
        for i in range(blocks):
            layers.append(PreActBlock(c_in, c_out, stride if i == 0 else 1))
            c_in = c_out
    layers += [
        PSPNorm(c_in),
        LIF(),
        TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        Readout(c_in, digits.NUM_CLASSES),
    ]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, PSPNorm):
                module.weight.fill_(PSP_GAIN)
    return model


def main() -> float:
    digits.setup(0)
    return digits.run(NAME, build(), T, epochs=15, lr=3e-3, batch_size=32)


if __name__ == "__main__":
    torch.set_num_threads(digits.THREADS)
    main()
