"""Every shipped trained model, fully folded and lowered, reproduces PyTorch spike for spike on the digits test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.datasets import digits_split, direct_encode
from snncompile.frontend import trace
from snncompile.frontend.pytorch.load import load_model
from snncompile.passes.pipelines import float_pipeline
from snncompile.sim import simulate
from snncompile.verification.check import check_compile

MODELS = sorted((Path(__file__).parents[2] / "examples" / "models").glob("*.pt"))
LOWERED_KINDS = (ir.Input, ir.Dense, ir.Conv2d, ir.Pool2d, ir.MaxPool2d, ir.Flatten, ir.LIF, ir.Readout)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    # small float64 convolutions are many times slower with two contending threads
    torch.set_num_threads(1)


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_lowered_model_is_spike_exact_on_digits(path: Path) -> None:
    model = load_model(path)
    traced = trace(model)
    lowered, records = float_pipeline().run(traced)
    assert [r.name for r in records] == ["canonicalize", "fold-norm", "lower-mlf", "lower-residual"]
    assert all(isinstance(n, LOWERED_KINDS) for n in lowered.nodes), "norms, adds or MPBN survived lowering"
    assert all(n.levels == 1 for n in lowered.of_kind(ir.LIF))
    _, _, x_test, y_test = digits_split()
    x = torch.from_numpy(direct_encode(x_test, traced.timesteps)).double()
    report = check_compile(model, traced, lowered, x)
    assert report.layers, "no neuron layers compared"
    for row in report.layers:
        assert row.model_vs_traced == 0, f"{row.layer}: {row.model_vs_traced} PyTorch/IR spike mismatches"
        assert row.traced_vs_compiled == 0, f"{row.layer}: {row.traced_vs_compiled} mismatches after lowering"
    assert report.readout_model_vs_compiled < 1e-9
    with torch.no_grad():
        reference = model.double()(x).argmax(1).numpy()
    compiled = simulate(lowered, x, record="outputs").output.argmax(1)
    assert np.array_equal(reference, compiled)
    assert (compiled == y_test).mean() > 0.9
