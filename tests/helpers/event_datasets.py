"""Tiny event-camera datasets written in tonic's on-disk layouts (no downloads): N-MNIST and DVS-Gesture."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_nmnist_bin(path: Path, x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> None:
    """N-MNIST's 40-bit events: byte 0 x, byte 1 y, byte 2 polarity (bit 7) and t bits 22..16, bytes 3-4 t bits
    15..0 (microseconds; t < 2^23, so no overflow marker events are needed)."""
    t = np.asarray(t, np.int64)
    assert t.max() < 1 << 23
    raw = np.zeros((len(x), 5), np.uint8)
    raw[:, 0], raw[:, 1] = x, y
    raw[:, 2] = (np.asarray(p) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())


def random_events(rng: np.random.Generator, n: int, width: int, height: int, duration: int) -> dict[str, np.ndarray]:
    return {"x": rng.integers(0, width, n), "y": rng.integers(0, height, n), "p": rng.integers(0, 2, n),
            "t": np.sort(rng.integers(0, duration, n))}


def make_nmnist(root: Path, per_class: int = 2, classes: int = 3, events: int = 300, seed: int = 0,
                split: str = "Test") -> list[dict]:
    """ROOT/NMNIST/<split>/<digit>/<id>.bin as tonic reads an N-MNIST split (Test or Train); returns the events
    written, in tonic's sample order (digit folders sorted, files sorted)."""
    rng = np.random.default_rng(seed)
    written = []
    for digit in range(classes):
        for i in range(per_class):
            ev = random_events(rng, events, 34, 34, 300_000)
            write_nmnist_bin(root / "NMNIST" / split / str(digit) / f"{i:05d}.bin", **ev)
            written.append({**ev, "label": digit})
    return written


def make_dvsgesture(root: Path, labels: tuple[int, ...] = (0, 3, 10), events: int = 400, seed: int = 1) -> None:
    """ROOT/DVSGesture/ibmGestureTest/user01_fluorescent/<label>.npy: events [N, 4] (x, y, p, t in ms), tonic's
    preprocessed DVS-Gesture format."""
    rng = np.random.default_rng(seed)
    folder = root / "DVSGesture" / "ibmGestureTest" / "user01_fluorescent"
    folder.mkdir(parents=True, exist_ok=True)
    for label in labels:
        ev = random_events(rng, events, 128, 128, 1500)
        np.save(folder / f"{label}.npy", np.stack([ev["x"], ev["y"], ev["p"], ev["t"]], axis=1).astype(np.int64))
