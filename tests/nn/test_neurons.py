"""LIF, MLF and S2NN semantics against hand-computed trajectories."""

from __future__ import annotations

import pytest
import torch

from snncompile import nn as snn


def seq(*values: float) -> torch.Tensor:
    """A [T, 1, 1] float64 sequence for one neuron."""
    return torch.tensor(values, dtype=torch.float64).reshape(-1, 1, 1)


def flat(out: torch.Tensor) -> list[float]:
    return out.reshape(-1).tolist()


def test_lif_strict_threshold_does_not_fire_at_equality() -> None:
    lif = snn.LIF(decay=0.25, v_th=0.5)
    # t0: h = 0.5 (equal, no spike); t1: h = 0.125 + 0.5 = 0.625 > 0.5 (spike); t2: reset, h = 0.5 again.
    assert flat(lif(seq(0.5, 0.5, 0.5))) == [0.0, 1.0, 0.0]


def test_lif_integrates_with_decay() -> None:
    lif = snn.LIF(decay=0.5, v_th=0.5)
    # h: 0.375, 0.5625 (spike, reset), 0.375, 0.5625 (spike)
    assert flat(lif(seq(0.375, 0.375, 0.375, 0.375))) == [0.0, 1.0, 0.0, 1.0]


def test_lif_hard_vs_soft_reset_trajectories() -> None:
    x = seq(1.0, 0.0, 0.0, 0.0)
    # zero: spike at t0, v = 0 afterwards.
    assert flat(snn.LIF(decay=0.5, v_th=0.25, reset="zero")(x)) == [1.0, 0.0, 0.0, 0.0]
    # subtract: v = 0.75 after t0; t1: h = 0.375 > 0.25 (spike), v = 0.125; t2: h = 0.0625; t3: 0.03125.
    assert flat(snn.LIF(decay=0.5, v_th=0.25, reset="subtract")(x)) == [1.0, 1.0, 0.0, 0.0]


def test_lif_soft_reset_keeps_the_excess() -> None:
    # No leak, input 0.25, v_th 0.5: h = 0.25, 0.5 (equal: no spike), 0.75 (spike), then
    # zero reset:     v = 0    -> h = 0.25, 0.5, 0.75 (spike at t5)
    # subtract reset: v = 0.25 -> h = 0.5, 0.75 (spike at t4), 0.5
    x = seq(*[0.25] * 6)
    assert flat(snn.LIF(decay=1.0, v_th=0.5, reset="zero")(x)) == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert flat(snn.LIF(decay=1.0, v_th=0.5, reset="subtract")(x)) == [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_lif_neurons_are_independent_and_batched() -> None:
    x = torch.tensor([[[0.6, 0.45], [0.0, 1.0]]] * 2, dtype=torch.float64)  # [T=2, B=2, N=2]
    out = snn.LIF(decay=0.25, v_th=0.5)(x)
    assert out.tolist() == [[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 1.0]]]


def test_lif_rejects_unknown_reset() -> None:
    with pytest.raises(ValueError, match="reset"):
        snn.LIF(reset="soft")


def test_mlf_levels_are_independent() -> None:
    mlf = snn.MLF((0.6, 1.6, 2.6), decay=0.25)
    # t0: h = 1.7 at every level: levels 1 and 2 fire (and reset), level 3 keeps 1.7; t1: x = 0:
    # level 3 decays to 0.425, nothing fires.
    assert flat(mlf(seq(1.7, 0.0))) == [2.0, 0.0]
    # With 2.2 at t1 instead, level 3 reaches 0.425 + 2.2 = 2.625 > 2.6: all three fire. A single shared
    # membrane reset by the first level would only reach 2.2 there (count 2).
    assert flat(mlf(seq(1.7, 2.2))) == [2.0, 3.0]


def test_mlf_counts_and_strictness() -> None:
    mlf = snn.MLF((0.6, 1.6, 2.6), decay=0.0)
    assert flat(mlf(seq(0.6, 0.61, 1.6, 1.61, 2.6, 2.61, -5.0))) == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 0.0]


def test_mlf_single_level_is_lif() -> None:
    x = torch.randn(10, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(snn.MLF((0.5,), decay=0.25)(x), snn.LIF(decay=0.25, v_th=0.5)(x))


def test_mlf_needs_a_level() -> None:
    with pytest.raises(ValueError, match="level"):
        snn.MLF(())


def test_s2nn_non_strict_and_stateless() -> None:
    s2nn = snn.S2NN(v_th=1.0)
    assert flat(s2nn(seq(1.0))) == [1.0]  # equality fires (>=)
    assert flat(s2nn(seq(0.999999))) == [0.0]
    # No state: a sub-threshold input never accumulates, every step is independent.
    assert flat(s2nn(seq(0.6, 0.6, 0.6, 1.5, 1.5))) == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_neuron_outputs_keep_shape_and_dtype() -> None:
    x = torch.zeros(3, 2, 4, 5, 5, dtype=torch.float64)
    for neuron in (snn.LIF(), snn.MLF(), snn.S2NN(), snn.MPBNLIF((4, 5, 5)).eval()):
        out = neuron(x)
        assert out.shape == x.shape and out.dtype == torch.float64
