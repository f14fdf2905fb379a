"""tdBN, PSP-norm and MPBN semantics against hand-computed formulas (eval and training mode)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snncompile import nn as snn


def f64(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("eps_inside", [True, False])
def test_tdbn_eval_formula_for_both_eps_placements(eps_inside: bool) -> None:
    mean, var, eps, lam, beta, alpha, v_th = 0.5, 0.25, 0.5, -2.0, 0.1, 1 / math.sqrt(2), 0.5
    bn = snn.TDBatchNorm(1, alpha=alpha, v_th=v_th, eps=eps, eps_inside=eps_inside).double().eval()
    with torch.no_grad():
        bn.running_mean.fill_(mean)
        bn.running_var.fill_(var)
        bn.weight.fill_(lam)
        bn.bias.fill_(beta)
    denom = math.sqrt(var + eps) if eps_inside else math.sqrt(var) + eps  # √0.75 vs 1.0
    xs = [-1.0, 0.0, 0.5, 2.0]
    x = f64(xs).reshape(4, 1, 1, 1, 1)  # [T, B, C, H, W]
    expected = [(v - mean) / denom * (lam * alpha * v_th) + beta for v in xs]
    assert bn(x).reshape(-1).tolist() == pytest.approx(expected, rel=1e-14, abs=1e-15)
    assert bn.scale == pytest.approx(alpha * v_th)


def test_tdbn_eps_placement_matters() -> None:
    x = f64([[[[[2.0]]]]])
    inside = snn.TDBatchNorm(1, eps=0.5, eps_inside=True).double().eval()
    outside = snn.TDBatchNorm(1, eps=0.5, eps_inside=False).double().eval()
    # default statistics (μ 0, σ² 1, γ 1, β 0), scale α·V_th = 0.5: D = √1.5 vs √1 + 0.5
    assert float(inside(x).detach()) == pytest.approx(2.0 * 0.5 / math.sqrt(1.5))
    assert float(outside(x).detach()) == pytest.approx(2.0 * 0.5 / 1.5)


def test_tdbn_training_uses_batch_statistics_and_updates_running_ones() -> None:
    bn = snn.TDBatchNorm(2, alpha=1.0, v_th=1.0, eps=0.0, momentum=0.1).double().train()
    x = torch.zeros(2, 2, 2, 1, 1, dtype=torch.float64)  # [T, B, C, 1, 1]
    x[:, :, 0] = f64([[1.0, 2.0], [3.0, 6.0]]).reshape(2, 2, 1, 1)  # channel 0: mean 3, biased var 3.5
    x[:, :, 1] = 7.0  # channel 1: constant
    y = bn(x)
    assert y[:, :, 0].reshape(-1).tolist() == pytest.approx([(v - 3.0) / math.sqrt(3.5) for v in (1, 2, 3, 6)])
    assert bn.running_mean.tolist() == pytest.approx([0.3, 0.7])
    # running variance gets the unbiased estimate: 3.5 · 4/3
    assert bn.running_var.tolist() == pytest.approx([0.9 + 0.1 * 3.5 * 4 / 3, 0.9])


def test_pspnorm_training_keeps_a_running_second_moment() -> None:
    psp = snn.PSPNorm(2, eps=0.0, momentum=0.25).double().train()
    with torch.no_grad():
        psp.weight.copy_(f64([2.0, -1.0]))
    x = torch.empty(2, 1, 2, 1, 1, dtype=torch.float64)
    x[:, 0, 0] = f64([1.0, 3.0]).reshape(2, 1, 1)  # E[x²] = 5
    x[:, 0, 1] = f64([-2.0, 2.0]).reshape(2, 1, 1)  # E[x²] = 4, mean 0: no mean subtraction anyway
    y = psp(x)
    assert y[:, 0, 0].reshape(-1).tolist() == pytest.approx([2 / math.sqrt(5), 6 / math.sqrt(5)])
    assert y[:, 0, 1].reshape(-1).tolist() == pytest.approx([1.0, -1.0])
    assert psp.running_moment2.tolist() == pytest.approx([0.75 + 0.25 * 5, 0.75 + 0.25 * 4])
    psp.eval()  # eval divides by the running value instead
    assert float(psp(x)[1, 0, 0].detach()) == pytest.approx(2 * 3 / math.sqrt(2.0))


def test_pspnorm_optional_bias() -> None:
    assert snn.PSPNorm(3).bias is None
    psp = snn.PSPNorm(1, affine_bias=True).double().eval()
    with torch.no_grad():
        psp.bias.fill_(0.25)
    assert float(psp(torch.zeros(1, 1, 1, 1, 1, dtype=torch.float64)).detach()) == 0.25


def mpbn(decay: float, mean: float, var: float, gamma: float, beta: float, reset: str = "zero",
         elementwise: bool = False, n: int = 1) -> snn.MPBNLIF:
    m = snn.MPBNLIF(n, elementwise=elementwise, decay=decay, v_th=1.0, fire_level=0.5, reset=reset,
                    eps=0.0).double().eval()
    with torch.no_grad():
        m.running_mean.fill_(mean)
        m.running_var.fill_(var)
        m.weight.fill_(gamma)
        m.bias.fill_(beta)
    return m


def seq(*values: float) -> torch.Tensor:
    return f64(values).reshape(-1, 1, 1)


def flat(out: torch.Tensor) -> list[float]:
    return out.reshape(-1).tolist()


def test_mpbn_fires_on_the_normalized_membrane() -> None:
    # spike iff 2·h > 0.5, i.e. h > 0.25; decay 0.5. Hard reset: 0.3 fires every step.
    assert flat(mpbn(0.5, 0.0, 1.0, 2.0, 0.0)(seq(0.3, 0.3, 0.3))) == [1.0, 1.0, 1.0]
    # subtract removes one *raw* unit: v = -0.7, then h = -0.05 (no), then h = 0.275 (spike).
    assert flat(mpbn(0.5, 0.0, 1.0, 2.0, 0.0, reset="subtract")(seq(0.3, 0.3, 0.3))) == [1.0, 0.0, 1.0]


def test_mpbn_resets_the_raw_membrane() -> None:
    # spike iff h − 0.4 > 0.5 (μ = 0.4). After the spike at t0 the raw membrane is 0, so h = 0.5, 0.75,
    # 0.875, 0.9375: the next spike is at t4. Resetting the *normalized* value to 0 (raw = μ) would give
    # h = 0.7, 0.85, 0.925 and a spike at t3.
    out = mpbn(0.5, 0.4, 1.0, 1.0, 0.0)(seq(1.0, 0.5, 0.5, 0.5, 0.5))
    assert flat(out) == [1.0, 0.0, 0.0, 0.0, 1.0]


def test_mpbn_negative_gamma_fires_on_low_membrane() -> None:
    neuron = mpbn(0.25, 0.0, 1.0, -1.0, 1.0)  # spike iff 1 − h > 0.5, i.e. h < 0.5
    assert flat(neuron(seq(0.0, 0.0, 0.0))) == [1.0, 1.0, 1.0]
    assert flat(neuron(seq(2.0, 2.0, 2.0))) == [0.0, 0.0, 0.0]


def test_mpbn_elementwise_parameters_are_per_neuron() -> None:
    neuron = snn.MPBNLIF((2, 3), elementwise=True, eps=0.0).double().eval()
    assert neuron.running_mean.shape == (2, 3)
    channel = snn.MPBNLIF((2, 3))
    assert channel.running_mean.shape == (2, 1)
    with torch.no_grad():
        neuron.running_mean.copy_(f64([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]))
    out = neuron(torch.full((1, 1, 2, 3), 2.6, dtype=torch.float64))  # fires iff 2.6 − μ > 0.5
    assert out.reshape(-1).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_mpbn_training_normalizes_each_step_with_batch_statistics() -> None:
    neuron = snn.MPBNLIF(2, decay=0.0, eps=0.0, momentum=0.5).double().train()
    x = f64([[[0.0, 1.0], [2.0, 1.0], [4.0, 1.0], [6.0, 5.0]]])  # [T=1, B=4, C=2]
    out = neuron(x)
    # channel 0: mean 3, biased var 5 -> (h − 3)/√5 > 0.5 iff h > 4.118: only 6 fires.
    # channel 1: mean 2, biased var 3 -> (h − 2)/√3 > 0.5 iff h > 2.866: only 5 fires.
    assert out[0].tolist() == [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    assert neuron.running_mean.reshape(-1).tolist() == pytest.approx([1.5, 1.0])
    assert neuron.running_var.reshape(-1).tolist() == pytest.approx([0.5 + 0.5 * 5 * 4 / 3, 0.5 + 0.5 * 3 * 4 / 3])


def test_mpbn_rejects_unknown_reset() -> None:
    with pytest.raises(ValueError, match="reset"):
        snn.MPBNLIF(3, reset="none")


def test_mpbn_folded_threshold_predicts_the_compiled_threshold() -> None:
    """θ_eff from the layer equals the threshold fold-norm computes, sign included."""
    from snncompile.frontend import trace
    from snncompile.passes.pipelines import float_pipeline

    torch.manual_seed(3)
    layer = snn.MPBNLIF((6,), elementwise=True)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.2, -0.7, 0.4, -1.5, 2.0, 0.9]))
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0, 0.6, 0.2]))
        layer.running_mean.uniform_(-1, 1)
        layer.running_var.uniform_(0.5, 2)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), layer).eval()
    lowered, _ = float_pipeline().run(trace(model, input_shape=(4,)))
    (lif,) = [n for n in lowered.nodes if n.kind == "lif"]
    assert np.allclose(lif.threshold[0], layer.folded_threshold().detach().double().numpy(), rtol=1e-6)


def test_deployability_penalty_is_zero_only_when_all_thresholds_clear_the_margin() -> None:
    layer = snn.MPBNLIF((3,), elementwise=True)
    with torch.no_grad():
        layer.running_mean.copy_(torch.tensor([1.0, 1.0, -2.0]))
    model = torch.nn.Sequential(layer)
    penalty = snn.deployability_penalty(model, margin=0.05)
    assert penalty.item() > 0  # the third neuron's θ_eff = −2 + 0.5 < 0
    penalty.backward()
    assert layer.bias.grad is not None and layer.bias.grad[2] != 0
    with torch.no_grad():
        layer.running_mean.fill_(1.0)
    assert snn.deployability_penalty(model, margin=0.05).item() == 0
