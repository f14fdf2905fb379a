"""Agreement bookkeeping: the earliest divergence over chunks, silent and saturated neurons, data loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snncompile.errors import CompileError
from snncompile.verification.agreement import Activity, PairAgreement
from snncompile.verification.data import load_data
from snncompile.verification.lava import unstream
from snncompile.verification.stages import Layer

LAYERS = [Layer("a", "net.a", (3,), 1), Layer("b", "net.b", (2,), 2)]


def test_first_divergence_is_the_first_layer_then_the_earliest_step_over_chunks() -> None:
    pair = PairAgreement("x", "y", True)
    zeros_a, zeros_b = np.zeros((4, 2, 3)), np.zeros((4, 2, 2))
    late = zeros_a.copy()
    late[3, 1, 2] = 1
    pair.update(LAYERS[0], zeros_a, late, offset=0)
    early = zeros_a.copy()
    early[1, 0, 0] = 1
    pair.update(LAYERS[0], zeros_a, early, offset=2)
    b_diff = zeros_b.copy()
    b_diff[0, 0, 0] = 2
    pair.update(LAYERS[1], zeros_b, b_diff, offset=0)
    first = pair.first_divergence(LAYERS)
    assert (first.layer, first.timestep, first.sample, first.neuron, first.values) == ("a", 1, 2, (0,), (0.0, 1.0))
    assert pair.mismatches == {"a": 2, "b": 1} and pair.decisions == {"a": 48, "b": 16}
    assert pair.agreement("a") == pytest.approx(1 - 2 / 48)


def test_silent_and_saturated_neurons() -> None:
    act = Activity(levels=2)
    spikes = np.zeros((3, 2, 3))
    spikes[..., 1] = 2  # always at the top level
    spikes[0, 0, 2] = 1
    act.update(spikes)
    act.update(spikes)
    assert (act.silent, act.saturated, act.steps) == (1, 1, 12)
    assert act.rates.tolist() == pytest.approx([0.0, 2.0, 1 / 6])


def test_unstream_undoes_lava_streaming() -> None:
    steps, samples, phase = 3, 2, 2
    want = np.arange(steps * samples).reshape(steps, samples).astype(float)
    streamed = np.zeros((samples * steps + phase + 1,))
    for b in range(samples):
        streamed[b * steps + phase:b * steps + phase + steps] = want[:, b]
    assert np.array_equal(unstream(streamed, samples, steps, phase), want)


def test_npz_data_images_frames_and_errors(tmp_path: Path) -> None:
    images = np.random.default_rng(0).random((5, 1, 4, 4))
    np.savez(tmp_path / "ok.npz", x=images, y=np.arange(5))
    data = load_data(tmp_path / "ok.npz", (1, 4, 4), 3)
    assert data.frames.shape == (3, 5, 1, 4, 4) and data.labels.tolist() == [0, 1, 2, 3, 4]
    np.savez(tmp_path / "frames.npz", x=np.zeros((3, 2, 1, 4, 4)))
    assert load_data(tmp_path / "frames.npz", (1, 4, 4), 3).labels is None
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 4, 4)))
    with pytest.raises(CompileError) as exc:
        load_data(tmp_path / "bad.npz", (1, 4, 4), 3)
    assert exc.value.diagnostics[0].code == "SNC902"
    with pytest.raises(CompileError):
        load_data("digits", (3, 8, 8), 3)
