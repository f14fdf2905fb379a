"""Float numerics of every IR op: synapses against torch.nn.functional, neurons against hand-computed steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snncompile import ir
from snncompile.sim import FLOAT_OPS, simulate

RNG = np.random.default_rng(0)


def run(node: ir.Op, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Simulate a one-op graph on x [T, B, *shape]."""
    graph = ir.Graph((ir.Input("input", (), shape=shape), node), (node.name,))
    assert ir.verify(graph) == []
    return simulate(graph, x).output


def per_step(fn: object, x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x)
    y = fn(t.flatten(0, 1))  # type: ignore[operator]
    return y.reshape(*t.shape[:2], *y.shape[1:]).numpy()


def test_every_backbone_op_has_a_float_implementation() -> None:
    backbone = {ir.Dense, ir.Conv2d, ir.Pool2d, ir.MaxPool2d, ir.Flatten, ir.Add, ir.Identity, ir.LIF, ir.MPBNLIF,
                ir.Readout, ir.BatchNorm, ir.PSPNorm}  # ir.Input is fed by the interpreter itself
    assert backbone <= set(FLOAT_OPS), "ops without float numerics"


def test_dense() -> None:
    w, b = RNG.normal(size=(4, 3)), RNG.normal(size=4)
    x = RNG.normal(size=(5, 2, 3))
    got = run(ir.Dense("op", ("input",), weight=w, bias=b), x, (3,))
    assert np.allclose(got, x @ w.T + b, rtol=0, atol=1e-12)
    assert np.allclose(run(ir.Dense("op", ("input",), weight=w), x, (3,)), x @ w.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups"), [
    ((1, 1), (1, 1), (1, 1), 1), ((2, 1), (0, 2), (1, 2), 2)])
def test_conv2d(stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> None:
    w, b = RNG.normal(size=(4, 4 // groups, 3, 2)), RNG.normal(size=4)
    x = RNG.normal(size=(3, 2, 4, 7, 6))
    node = ir.Conv2d("op", ("input",), weight=w, bias=b, stride=stride, padding=padding, dilation=dilation,
                     groups=groups)
    want = per_step(lambda v: F.conv2d(v, torch.from_numpy(w), torch.from_numpy(b), stride, padding, dilation,
                                       groups), x)
    assert np.array_equal(run(node, x, (4, 7, 6)), want)


def test_pools() -> None:
    x = RNG.normal(size=(3, 2, 2, 5, 5))
    avg = ir.Pool2d("op", ("input",), mode="avg", kernel=(3, 3), stride=(2, 2), padding=(1, 1))
    want = per_step(lambda v: F.avg_pool2d(v, 3, 2, 1, count_include_pad=True), x)
    assert np.allclose(run(avg, x, (2, 5, 5)), want, rtol=0, atol=1e-14)
    total = ir.Pool2d("op", ("input",), mode="sum", kernel=(2, 2), stride=(1, 1))
    want = per_step(lambda v: F.avg_pool2d(v, 2, 1) * 4, x)
    assert np.allclose(run(total, x, (2, 5, 5)), want, rtol=0, atol=1e-13)


def test_maxpool_padding_never_wins() -> None:
    x = -1.0 - RNG.random(size=(2, 2, 1, 4, 4))  # all negative: a zero pad would win
    node = ir.MaxPool2d("op", ("input",), kernel=(3, 3), stride=(1, 1), padding=(1, 1))
    got = run(node, x, (1, 4, 4))
    assert got.max() < -1.0
    assert np.array_equal(got, per_step(lambda v: F.max_pool2d(v, 3, 1, 1), x))


def test_flatten_is_c_major() -> None:
    x = RNG.normal(size=(2, 3, 2, 3, 4))
    assert np.array_equal(run(ir.Flatten("op", ("input",)), x, (2, 3, 4)), x.reshape(2, 3, 24))


@pytest.mark.parametrize("eps_inside", [True, False])
def test_batchnorm(eps_inside: bool) -> None:
    mean, var, w, b = RNG.normal(size=3), RNG.uniform(0.1, 2, 3), RNG.normal(size=3), RNG.normal(size=3)
    node = ir.BatchNorm("op", ("input",), mean=mean, var=var, weight=w, bias=b, eps=0.3, scale=0.7,
                        eps_inside=eps_inside)
    x = RNG.normal(size=(2, 2, 3, 2, 2))
    denom = np.sqrt(var + 0.3) if eps_inside else np.sqrt(var) + 0.3
    c = (slice(None), None, None)
    want = (x - mean[c]) / denom[c] * (w * 0.7)[c] + b[c]
    assert np.allclose(run(node, x, (3, 2, 2)), want, rtol=1e-14, atol=1e-14)
    assert np.allclose(node.denominator(), denom)


def test_batchnorm_on_features() -> None:
    node = ir.BatchNorm("op", ("input",), mean=np.array([1.0, 2.0]), var=np.array([4.0, 1.0]),
                        weight=np.ones(2), bias=np.zeros(2), eps=0.0)
    assert np.allclose(run(node, np.full((1, 1, 2), 3.0), (2,)), [[[1.0, 1.0]]])


def test_pspnorm() -> None:
    m2, w, b = RNG.uniform(0.5, 2, 3), RNG.normal(size=3), RNG.normal(size=3)
    x = RNG.normal(size=(2, 2, 3, 2))
    c = (slice(None), None)
    want = x * (w / np.sqrt(m2 + 1e-5))[c]
    node = ir.PSPNorm("op", ("input",), moment2=m2, weight=w)
    assert np.allclose(run(node, x, (3, 2)), want, rtol=1e-14, atol=1e-14)
    node = ir.PSPNorm("op", ("input",), moment2=m2, weight=w, bias=b)
    assert np.allclose(run(node, x, (3, 2)), want + b[c], rtol=1e-14, atol=1e-14)


def neuron(**kw: object) -> ir.LIF:
    fields: dict[str, object] = {"decay": np.full(1, 0.5), "threshold": np.full((1, 1), 0.25), **kw}
    return ir.LIF("op", ("input",), **fields)  # type: ignore[arg-type]


def steps(node: ir.Op, *values: float) -> list[float]:
    return run(node, np.array(values).reshape(-1, 1, 1), (1,)).reshape(-1).tolist()


def test_lif_resets() -> None:
    x = (1.0, 0.0, 0.0, 0.0)
    assert steps(neuron(reset="zero"), *x) == [1.0, 0.0, 0.0, 0.0]
    assert steps(neuron(reset="subtract"), *x) == [1.0, 1.0, 0.0, 0.0]  # v: 0.75, 0.125, 0.0625, ...
    assert steps(neuron(reset="none"), *x) == [1.0, 1.0, 0.0, 0.0]  # h: 1, 0.5, 0.25 (=: no), 0.125


def test_lif_comparisons_at_equality() -> None:
    node = neuron(decay=np.zeros(1), threshold=np.full((1, 1), 0.5), reset="none")
    assert steps(node, 0.5, 0.75, 0.25) == [0.0, 1.0, 0.0]
    assert steps(node.replace(comparison=">="), 0.5, 0.75, 0.25) == [1.0, 1.0, 0.0]


def test_lif_gain_scales_the_drive() -> None:
    node = neuron(decay=np.zeros(1), gain=np.full(1, 2.0))
    assert steps(node, 0.2, 0.1, -1.0) == [1.0, 0.0, 0.0]  # 0.4 > 0.25, 0.2 < 0.25


def test_lif_levels_reset_independently() -> None:
    theta = np.array([0.6, 1.6, 2.6]).reshape(3, 1)
    node = neuron(decay=np.full(1, 0.25), threshold=theta)
    assert steps(node, 1.7, 0.0) == [2.0, 0.0]
    assert steps(node, 1.7, 2.2) == [2.0, 3.0]
    subtract = node.replace(reset="subtract")
    # level k subtracts its own threshold: v = 1.1, 0.1, 1.7 -> h(t1) = 0.275, 0.025, 0.425
    assert steps(subtract, 1.7, 0.0) == [2.0, 0.0]


def test_lif_per_neuron_thresholds_and_decays() -> None:
    node = ir.LIF("op", ("input",), decay=np.array([0.0, 1.0]), threshold=np.array([[0.5, 1.0]]))
    x = np.full((3, 1, 2), 0.4)
    assert run(node, x, (2,))[:, 0].tolist() == [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]


def mpbn(**kw: object) -> ir.MPBNLIF:
    fields: dict[str, object] = {"decay": np.full(1, 0.5), "mean": np.full(1, 0.4), "var": np.ones(1),
                                 "weight": np.ones(1), "bias": np.zeros(1), "eps": 0.0, **kw}
    return ir.MPBNLIF("op", ("input",), **fields)  # type: ignore[arg-type]


def test_mpbn_lif_resets_the_raw_membrane() -> None:
    # spike iff h − 0.4 > 0.5; raw reset to 0 -> next spike at t4 (see tests/nn/test_norms.py)
    assert steps(mpbn(), 1.5, 0.5, 0.5, 0.5, 0.5) == [1.0, 0.0, 0.0, 0.0, 1.0]
    # subtract one raw unit: v = 0.5 -> h = 0.75, 0.875, 0.9375 (spike, v = −0.0625), 0.46875
    assert steps(mpbn(reset="subtract"), 1.5, 0.5, 0.5, 0.5, 0.5) == [1.0, 0.0, 0.0, 1.0, 0.0]


def test_mpbn_lif_elementwise_and_channelwise() -> None:
    mean = np.array([[0.0, 1.0], [2.0, 3.0]])
    element = ir.MPBNLIF("op", ("input",), decay=np.zeros((2, 2)), mean=mean, var=np.ones((2, 2)),
                         weight=np.ones((2, 2)), bias=np.zeros((2, 2)), eps=0.0)
    x = np.full((1, 1, 2, 2), 1.8)
    assert run(element, x, (2, 2))[0, 0].tolist() == [[1.0, 1.0], [0.0, 0.0]]
    channel = element.replace(mean=np.array([[0.0], [2.0]]), var=np.ones((2, 1)), weight=np.array([[1.0], [-1.0]]),
                              bias=np.zeros((2, 1)))
    assert run(channel, x, (2, 2))[0, 0].tolist() == [[1.0, 1.0], [0.0, 0.0]]  # −(1.8 − 2) = 0.2 < 0.5
