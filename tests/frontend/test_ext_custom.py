"""The register_converter worked example (README), the LIFExt op, and the frontend without the SNN libraries."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import snncompile
from snncompile import ir
from snncompile.errors import CompileError
from snncompile.ir.ops_ext import LIFExt
from snncompile.sim import simulate
from snncompile.targets import TARGETS

# --- the README's worked example: a user's own neuron class ------------------------------------------------


class MyLIF(nn.Module):
    """The user's neuron, over a whole [T, B, ...] sequence: v = β·v + x; spike when v > θ; reset to 0."""

    def __init__(self, beta: float = 0.9, threshold: float = 1.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, out = torch.zeros_like(x[0]), []
        for t in range(x.shape[0]):
            v = self.beta * v + x[t]
            s = (v > self.threshold).to(x.dtype)
            v = v * (1 - s)
            out.append(s)
        return torch.stack(out)


def convert_my_lif(ctx: snncompile.frontend.ConvertContext, m: MyLIF, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])  # per-sample shape of the input, e.g. (C, H, W)
    return ctx.add(ir.LIF, inputs, path, decay=np.full(shape, m.beta),
                   threshold=np.full((1, *shape), m.threshold), comparison=">", reset="zero")


snncompile.register_converter(MyLIF, convert_my_lif)


def test_worked_example_of_a_custom_neuron() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), MyLIF(0.8, 0.5), nn.Linear(16, 4), MyLIF()).double().eval()
    x = 2 * torch.rand(10, 3, 12, dtype=torch.float64)
    graph = snncompile.trace(model, input_shape=(12,), timesteps=10)
    result = simulate(graph, x)
    with torch.no_grad():
        hidden = model[1](model[0](x))
    assert np.array_equal(result[graph.node("1").name], hidden.numpy()) and 0 < hidden.mean() < 1
    assert np.array_equal(result.output, model(x).detach().numpy())


# --- LIFExt against an independent scalar loop ------------------------------------------------------------


def _reference(op: LIFExt, x: np.ndarray) -> np.ndarray:
    """One neuron at a time, straight from the docstring's equations."""
    steps, width = x.shape
    out = np.zeros_like(x)
    for n in range(width):
        i = v = 0.0
        theta, syn = op.threshold[n], None if op.syn_decay is None else op.syn_decay[n]
        gain = 1.0 if op.gain is None else op.gain[n]
        for t in range(steps):
            i = x[t, n] if syn is None else syn * i + x[t, n]
            h = op.decay[n] * v + gain * i
            if op.reset_timing == "immediate":
                s = float(h > theta)
                v = {"zero": h * (1 - s), "subtract": h - theta * s, "none": h}[op.reset]
            elif op.reset_timing == "delayed":
                r = float(v > theta)
                v = h - theta * r if op.reset == "subtract" else h * (1 - r)
                s = float(v > theta)
            else:
                r = float(v > theta)
                s = float(h - theta * r > theta)
                v = h - theta * s
            out[t, n] = s
    return out


@pytest.mark.parametrize(("timing", "reset"), [("immediate", "zero"), ("immediate", "subtract"), ("immediate", "none"),
                                               ("delayed", "subtract"), ("delayed", "zero"), ("double", "subtract")])
@pytest.mark.parametrize("synaptic", [False, True])
def test_lif_ext_float_semantics(timing: str, reset: str, synaptic: bool) -> None:
    rng = np.random.default_rng(1)
    width = 40
    op = LIFExt(name="n", inputs=("input",), decay=rng.uniform(0.3, 0.95, width),
                threshold=rng.uniform(0.2, 1.2, width), gain=rng.uniform(0.5, 1.5, width),
                syn_decay=rng.uniform(0.2, 0.8, width) if synaptic else None, reset=reset, reset_timing=timing)
    graph = ir.Graph((ir.Input(name="input", inputs=(), shape=(width,)), op), ("n",))
    ir.verify_or_raise(graph)
    x = rng.uniform(-0.2, 0.9, (30, width))
    got = simulate(graph, x[:, None, :]).output[:, 0, :]
    want = _reference(op, x)
    assert np.array_equal(got, want) and 0.05 < want.mean() < 0.95


def test_lif_ext_rejects_a_reset_its_timing_does_not_have() -> None:
    op = LIFExt(name="n", inputs=("input",), decay=np.ones(2), threshold=np.ones(2), reset="zero",
                reset_timing="double")
    graph = ir.Graph((ir.Input(name="input", inputs=(), shape=(2,)), op), ("n",))
    with pytest.raises(CompileError):
        ir.verify_or_raise(graph)


def test_sim_target_runs_the_library_ops() -> None:
    assert LIFExt in TARGETS["sim"].capabilities.ops


# --- the frontend without the SNN libraries ----------------------------------------------------------------


def test_frontend_does_not_import_the_libraries() -> None:
    code = (
        "import sys, torch, snncompile\n"
        "from snncompile import nn as snn\n"
        "m = torch.nn.Sequential(torch.nn.Linear(4, 3), snn.LIF())\n"
        "snncompile.trace(m, input_shape=(4,), timesteps=2)\n"
        "loaded = [k for k in ('spikingjelly', 'snntorch', 'norse') if k in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
