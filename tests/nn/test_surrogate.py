"""Surrogate gradients: exact Heaviside forward, non-zero finite gradients through every neuron."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from snncompile import nn as snn
from snncompile.nn.surrogate import s2nn_spike, spike

NEURONS: dict[str, Callable[[], nn.Module]] = {
    "lif-zero": lambda: snn.LIF(),
    "lif-subtract": lambda: snn.LIF(reset="subtract"),
    "mlf": lambda: snn.MLF(),
    "s2nn": lambda: snn.S2NN(v_th=0.3),
    "mpbn-channel": lambda: snn.MPBNLIF(5),
    "mpbn-element": lambda: snn.MPBNLIF(5, elementwise=True),
    "mpbn-subtract": lambda: snn.MPBNLIF(5, reset="subtract"),
}


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", sorted(NEURONS))
def test_backward_reaches_preceding_weights(name: str, train: bool) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(snn.TimeDistributed(nn.Linear(6, 5)), NEURONS[name](), nn.Linear(5, 3)).double()
    model.train(train)
    x = torch.randn(8, 4, 6, dtype=torch.float64)
    out = model(x)
    spikes = model[1](model[0](x))
    assert 0 < float(spikes.detach().ne(0).double().mean()) < 1
    out.square().sum().backward()
    grad = model[0][0].weight.grad
    assert grad is not None
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0
    if train and name.startswith("mpbn"):
        assert torch.isfinite(model[1].weight.grad).all() and model[1].weight.grad.abs().sum() > 0


def test_rectangle_surrogate_window() -> None:
    x = torch.tensor([-0.6, -0.4, 0.0, 0.4, 0.6], dtype=torch.float64, requires_grad=True)
    out = spike(x, strict=True, width=1.0)
    assert out.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]  # strict: 0 does not fire
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert spike(torch.zeros(1), strict=False).tolist() == [1.0]
    y = torch.tensor([0.1], requires_grad=True)
    spike(y, width=0.5).sum().backward()
    assert y.grad.tolist() == [2.0]  # 1/width inside |x| < width/2


def test_s2nn_surrogate_formula() -> None:
    x = torch.tensor([-1.0, -0.25, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    out = s2nn_spike(x, alpha=4.0, beta=1.0)
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0]  # non-strict
    out.sum().backward()
    sig = torch.sigmoid(4.0 * x.detach())
    expected = torch.where(x.detach() < 0, 4.0 * sig * (1 - sig), 1.0 / (x.detach().clamp(min=0) + 1))
    assert torch.allclose(x.grad, expected)
    assert x.grad[2] == 1.0 and x.grad[3] == 0.5
