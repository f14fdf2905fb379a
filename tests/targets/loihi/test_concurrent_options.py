"""Two threads compiling for Loihi with different options at once each get their own options (no global state)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile import nn as snn
from snncompile.api import CompileResult
from snncompile.api import compile as compile_model

ROUNDS = 4


def model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(12, 16), snn.LIF(decay=0.9, v_th=1.0), nn.Linear(16, 6),
                        snn.LIF(decay=0.8, v_th=0.5))
    net.input_shape, net.timesteps = (12,), 6  # type: ignore[assignment]
    return net


def graded(seed: int, scale: float) -> np.ndarray:
    """Calibration frames [T, N, 12] of real (non-binary) values, so that input_bits and the scale matter."""
    return scale * np.random.default_rng(seed).random((6, 8, 12))


OPTIONS: dict[str, dict[str, Any]] = {
    "a": {"input_bits": 3, "input_encoding": "graded", "calibration": graded(1, 1.0)},
    "b": {"input_bits": 6, "input_encoding": "graded", "calibration": graded(2, 0.25), "overflow": "warn"},
}


def input_of(result: CompileResult, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The input encoding in the compiled graph's metadata and in the written manifest."""
    manifest = json.loads((out / "manifest.json").read_text())
    return dict(result.graph.metadata["loihi"]["input"]), manifest["input"]


def test_two_threads_with_different_loihi_options_each_get_their_own(tmp_path: Path) -> None:
    expected = {}
    for key, options in OPTIONS.items():
        out = tmp_path / f"seq-{key}"
        expected[key] = input_of(compile_model(model(0 if key == "a" else 1), "loihi", out, options=options), out)
    assert expected["a"][0]["high"] == 2**3 - 1 < expected["b"][0]["high"] <= 2**6 - 1
    assert expected["a"][0]["scale"] != expected["b"][0]["scale"]

    got: dict[tuple[int, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    errors: list[BaseException] = []
    for round_ in range(ROUNDS):
        barrier = threading.Barrier(2)

        def run(key: str, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            try:
                out = tmp_path / f"r{round_}-{key}"
                net = model(0 if key == "a" else 1)
                barrier.wait(timeout=60)
                got[round_, key] = input_of(compile_model(net, "loihi", out, options=OPTIONS[key]), out)
            except BaseException as exc:  # re-raised in the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(key,)) for key in OPTIONS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
    for (round_, key), value in got.items():
        assert value == expected[key], (round_, key)
    assert len(got) == ROUNDS * len(OPTIONS)
