"""Single-step (T = 1) S2NN multilayer perceptron with BN on sklearn digits -> models/s2nn_mlp.pt."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits
import torch
from torch import nn

from snncompile.nn import S2NN, Readout, TimeDistributed

NAME, T, H = "s2nn_mlp", 1, 128


def build() -> nn.Sequential:
    return nn.Sequential(
        TimeDistributed(nn.Flatten()),
        nn.Linear(64, H),
        TimeDistributed(nn.BatchNorm1d(H)),
        S2NN(),
        nn.Linear(H, H),
        TimeDistributed(nn.BatchNorm1d(H)),
        S2NN(),
        Readout(H, digits.NUM_CLASSES),
    )


def main() -> float:
    digits.setup(0)
    return digits.run(NAME, build(), T, epochs=40, lr=3e-3)


if __name__ == "__main__":
    torch.set_num_threads(digits.THREADS)
    main()
