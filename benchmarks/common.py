"""Shared helpers of the benchmarks: the machine description, markdown tables, ResNet-style test networks."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

import snncompile
import snncompile.nn as snn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "models"


def machine() -> str:
    """One line: CPU model, cores, load, Python and torch versions, date."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores (torch threads {torch.get_num_threads()}), load average {load:.1f} at "
            f"start, Python {platform.python_version()}, torch {torch.__version__}, snncompile "
            f"{snncompile.__version__}, {datetime.date.today().isoformat()}")


def command() -> str:
    """How this benchmark was run, as `.venv/bin/python -m benchmarks.NAME ARGS` from the repository root."""
    module = os.path.relpath(sys.argv[0], ROOT).removesuffix(".py").replace(os.sep, ".")
    return " ".join([".venv/bin/python -m", module, *sys.argv[1:]])


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def emit(title: str, body: str, out: str | None) -> None:
    """Print the result block (title, command, machine, table); also write it to `out` when given."""
    text = f"### {title}\n\n`{command()}`\n\nMachine: {machine()}\n\n{body}\n"
    print(text, flush=True)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)


def resnet(blocks_per_stage: int, channels: Sequence[int] = (8, 16, 32), timesteps: int = 4) -> nn.Sequential:
    """A CIFAR-style spiking ResNet-(6n+2) for 1x8x8 input: conv, 3 stages of n tdBN basic blocks, readout."""
    layers: list[nn.Module] = [snn.TimeDistributed(nn.Conv2d(1, channels[0], 3, 1, 1, bias=False)),
                               snn.TDBatchNorm(channels[0]), snn.LIF()]
    c_in = channels[0]
    for stage, c in enumerate(channels):
        for k in range(blocks_per_stage):
            layers.append(snn.SpikingBasicBlock(c_in, c, stride=2 if stage and not k else 1))
            c_in = c
    layers += [snn.TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()), snn.Readout(c_in, 10)]
    model = nn.Sequential(*layers)
    model.input_shape, model.timesteps = (1, 8, 8), timesteps
    return calibrate(model, timesteps)


def calibrate(model: nn.Module, timesteps: int, seed: int = 0) -> nn.Module:
    """Random weights, normalization statistics from one train-mode pass on random images (so neurons fire)."""
    torch.manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, snn.TDBatchNorm)]
    for m in norms:
        m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.rand(1, 32, 1, 8, 8).expand(timesteps, -1, -1, -1, -1))
    return model.eval()


def depth(model: nn.Module) -> int:
    """Weight layers on the main path (3x3 convs and the readout), as ResNet-n counts them."""
    return sum(1 for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)) + 1
