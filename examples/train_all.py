"""Trains and saves all five digits example models in sequence and prints a summary."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits
import torch
import train_mlf_dsresnet
import train_mpbn_cnn
import train_psp_preact_resnet
import train_s2nn_mlp
import train_tdbn_resnet

SCRIPTS = (train_tdbn_resnet, train_mpbn_cnn, train_psp_preact_resnet, train_mlf_dsresnet, train_s2nn_mlp)


def main() -> dict[str, float]:
    results: dict[str, tuple[float, float]] = {}
    for script in SCRIPTS:
        start = time.perf_counter()
        acc = script.main()
        results[script.NAME] = (acc, time.perf_counter() - start)
    for name, (acc, seconds) in results.items():
        print(f"{name:20s} test accuracy {100 * acc:6.2f}%  {seconds:6.0f}s")
    return {name: acc for name, (acc, _) in results.items()}


if __name__ == "__main__":
    torch.set_num_threads(digits.THREADS)
    main()
