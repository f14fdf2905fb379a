"""Shared data pipeline, training loop, evaluation and checkpointing for the sklearn-digits SNN examples."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import snncompile.nn as snn

MODELS_DIR = Path(__file__).resolve().parent / "models"
INPUT_SHAPE = (1, 8, 8)
NUM_CLASSES = 10
THREADS = 2
SAFE_GLOBALS: list[type] = [
    nn.Sequential, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.MaxPool2d,
    nn.AdaptiveAvgPool2d, nn.Flatten, nn.Dropout, nn.Identity,
    *(getattr(snn, name) for name in snn.__all__),
]
"""Everything a checkpoint may reference: `torch.load(..., weights_only=True)` under this allowlist must work."""


def setup(seed: int = 0) -> None:
    """Fixes the thread count and every RNG so that a run is reproducible."""
    torch.set_num_threads(THREADS)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@cache
def load_digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (x_train, y_train, x_test, y_test); images are [N, 1, 8, 8] float32 in [0, 1]."""
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, data.target, test_size=0.25, random_state=0, stratify=data.target)
    return (torch.from_numpy(x_tr), torch.from_numpy(y_tr).long(),
            torch.from_numpy(x_te), torch.from_numpy(y_te).long())


def encode(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Direct encoding: the analog image repeated over time, [B, ...] -> [T, B, ...]."""
    return x.unsqueeze(0).repeat(timesteps, *([1] * x.dim()))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, timesteps: int, batch_size: int = 256) -> float:
    """Top-1 accuracy in eval mode (running normalization statistics)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(encode(x[i:i + batch_size], timesteps))
            correct += int((logits.argmax(1) == y[i:i + batch_size]).sum())
    return correct / len(x)


def evaluate(model: nn.Module, timesteps: int) -> float:
    """Test-set accuracy of the split in `load_digits_split`."""
    _, _, x_te, y_te = load_digits_split()
    return accuracy(model, x_te, y_te, timesteps)


def train(model: nn.Module, timesteps: int, epochs: int, lr: float, batch_size: int = 64,
          weight_decay: float = 0.0, seed: int = 0, penalty: Callable[[nn.Module], torch.Tensor] | None = None
          ) -> nn.Module:
    """Adam + cosine learning-rate decay on cross-entropy of the readout logits (+ penalty(model))."""
    setup(seed)
    x_tr, y_tr, _, _ = load_digits_split()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_tr), generator=generator)
        # Dropping the ragged tail keeps every BN batch larger than one sample (T = 1, B = 1 would fail).
        steps = len(order) // batch_size
        total_loss = 0.0
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            loss = loss_fn(model(encode(x_tr[idx], timesteps)), y_tr[idx])
            if penalty is not None:
                loss = loss + penalty(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
        scheduler.step()
        print(f"epoch {epoch + 1:3d}/{epochs}  loss {total_loss / steps:.4f}  "
              f"test acc {evaluate(model, timesteps):.4f}  {time.perf_counter() - start:6.1f}s wall  "
              f"{time.process_time() - cpu_start:6.1f}s cpu", flush=True)
    model.eval()
    return model


def count_layers(model: nn.Module) -> int:
    """Number of weight layers (Conv2d and Linear, the readout included)."""
    return sum(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules())


def save(model: nn.Sequential, name: str, timesteps: int) -> Path:
    """Saves the whole eval-mode float32 CPU model with the metadata the compiler reads."""
    model = model.eval().float().cpu()
    model.input_shape = tuple(int(d) for d in INPUT_SHAPE)
    model.timesteps = int(timesteps)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    path = MODELS_DIR / f"{name}.pt"
    torch.save(model, path)
    return path


def check_reload(path: Path, expected: float) -> float:
    """Reloads a checkpoint (unrestricted and allowlisted) and asserts that it reproduces the test accuracy."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        restricted = torch.load(path, weights_only=True)
    for model in (torch.load(path, weights_only=False), restricted):
        assert isinstance(model, nn.Sequential), type(model)
        assert model.input_shape == INPUT_SHAPE and isinstance(model.timesteps, int), path
        acc = evaluate(model, model.timesteps)
        assert acc == expected, f"{path.name}: reloaded accuracy {acc:.4f} != {expected:.4f}"
    return expected


def run(name: str, model: nn.Sequential, timesteps: int, epochs: int, lr: float, batch_size: int = 64,
        weight_decay: float = 0.0, seed: int = 0, penalty: Callable[[nn.Module], torch.Tensor] | None = None
        ) -> float:
    """Trains, reports, saves and re-verifies one example model; returns its test accuracy."""
    start, cpu_start = time.perf_counter(), time.process_time()
    train(model, timesteps, epochs, lr, batch_size, weight_decay, seed, penalty)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    acc = evaluate(model, timesteps)
    path = save(model, name, timesteps)
    check_reload(path, acc)
    print(f"{name}: {count_layers(model)} weight layers, T={timesteps}, test accuracy {100 * acc:.2f}% "
          f"(training {elapsed:.0f}s wall, {cpu:.0f}s cpu; {path.stat().st_size / 1024:.0f} KiB) -> {path}")
    return acc
