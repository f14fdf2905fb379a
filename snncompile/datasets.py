"""Small labelled data from scikit-learn (a dependency; no downloads): the digits split of examples and verify."""

from __future__ import annotations

import numpy as np


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of sklearn's 8x8 digits: images [N, 1, 8, 8] in [0, 1] (float32,
    pixel/16), 25 % stratified test split with random_state 0 — the split every example model used."""
    from snncompile.extras import require

    # a dependency (pyproject.toml), but it may still be missing from a hand-made environment
    require("sklearn", feature="the digits data (--data digits, --loihi-calibration digits)", package="scikit-learn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, data.target, test_size=0.25, random_state=0, stratify=data.target)
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def direct_encode(images: np.ndarray, timesteps: int) -> np.ndarray:
    """[B, ...] -> [T, B, ...]: the analog image presented unchanged at every step."""
    return np.broadcast_to(images, (timesteps, *images.shape)).copy()
