"""One small net per repository compiled for Loihi: Lava runs the artifact spike for spike like the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from frontend.papers import repro_mlf, repro_mpbn, repro_stbp
from frontend.papers.papers_common import randomize_norms
from helpers.lava_jobs import run_lava_jobs
from torch import nn

import snncompile
from snncompile.targets.loihi.artifact import simulate_artifact
from snncompile.targets.loihi.lava_runtime import stream
from snncompile.verification.lava import lava_python

SAMPLES = 3

if lava_python() is None:
    pytest.skip("no Lava interpreter (SNNCOMPILE_LAVA_PYTHON or .venv-lava)", allow_module_level=True)


def mpbn_net() -> nn.Module:
    """MPBN with membrane-BN thresholds that fold to positive values (what Loihi can run)."""
    model = repro_mpbn.SpikeModel(repro_mpbn.ResNetCifar(), step=3)
    model.set_spike_state(True)
    randomize_norms(model)
    for m in model.modules():
        if isinstance(m, repro_mpbn.LIFAct):
            m.bn.running_mean.zero_()
            m.bn.bias.data.uniform_(-0.3, 0.2, generator=torch.Generator().manual_seed(1))
    return model


NETS = {
    "stbp_tdbn": (lambda: randomize_norms(repro_stbp.Net()), (2, 8, 8), repro_stbp.STEPS),
    "mpbn": (mpbn_net, (3, 8, 8), 3),
    "mlf_dsresnet": (lambda: randomize_norms(repro_mlf.ResNet(), bias=(0.4, 1.5)), (3, 8, 8), repro_mlf.TimeStep),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray, dict]]:
    root = tmp_path_factory.mktemp("papers_lava")
    jobs, runs = [], {}
    for name, (build, shape, steps) in NETS.items():
        image = np.random.default_rng(3).random((SAMPLES, *shape))
        x = np.broadcast_to(image, (steps, *image.shape)).copy()  # direct encoding: the image every step
        out = root / name
        snncompile.compile(build(), "loihi", out, input_shape=shape, options={"calibration": x})
        jobs.append((out, x))
        runs[name] = (out, x, {})
    for name, outputs in zip(NETS, run_lava_jobs(root, jobs), strict=True):
        runs[name][2].update(outputs)
    return runs


@pytest.mark.parametrize("name", list(NETS))
def test_lava_equals_the_bit_exact_simulator_on_a_net_from_each_repository(name: str, runs: dict) -> None:
    out, x, lava = runs[name]
    _, sim = simulate_artifact(out, stream(x, 0)[:, None])
    layers = sorted(k for k in lava if k.startswith("layer"))
    assert layers
    compared = spikes = 0
    for key in layers:
        ours = sim[key][:, 0]
        assert lava[key].shape == ours.shape, key
        assert int(np.sum(lava[key] != ours)) == 0, f"{name} {key}: spike decisions differ"
        compared, spikes = compared + ours.size, spikes + int(ours.sum())
    assert spikes > 0
    print(f"{name}: {compared} spike decisions over {len(layers)} layers, {spikes} spikes, 0 mismatches")
