"""The simulators' device: "cpu" (default) or "cuda", and the CUDA settings that keep integer sums exact."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from snncompile.errors import error

DEVICES = ("cpu", "cuda")

DEFAULT_DEVICE: ContextVar[torch.device | None] = ContextVar("DEFAULT_DEVICE", default=None)
"""The device simulate() uses when given none (set by simulator_device, e.g. for every stage of verify)."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """torch.device for "cpu"/"cuda"/None (the simulator_device in effect, else cpu); SNC960 when CUDA is asked
    for and absent, SNC961 for any other name."""
    if device is None:
        return DEFAULT_DEVICE.get() or torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in DEVICES:
        raise error("SNC961", f"unknown simulator device {str(device)!r}", hint="use --device cpu or --device cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise error("SNC960", "the CUDA device was asked for, but torch sees no CUDA GPU",
                    hint="run with --device cpu, or install a CUDA build of torch on a machine with a GPU")
    return dev


@contextmanager
def simulator_device(device: str | torch.device | None) -> Iterator[torch.device]:
    """Within the block, simulate() without a device argument runs on `device` (None: leaves it as it is)."""
    dev = resolve_device(device)
    token = DEFAULT_DEVICE.set(dev)
    try:
        yield dev
    finally:
        DEFAULT_DEVICE.reset(token)


@contextmanager
def exact_device(device: torch.device) -> Iterator[None]:
    """On CUDA: no TF32 in matmul or cuDNN, deterministic cuDNN, no autotuning (restored afterwards).
    Float32 sums of integers then round nowhere while every partial sum stays below 2^24, in any order."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) = saved
