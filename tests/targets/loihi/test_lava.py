"""Emitted networks run in Lava (Loihi2SimCfg, fixed_pt) spike for spike like the bit-exact simulator.

All networks run in one subprocess of the Lava environment (.venv-lava, made by `make setup-lava`): every
layer, every timestep, three samples streamed back to back through netx's reset schedule.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers.lava_jobs import run_lava_jobs

from snncompile import ir
from snncompile.passes import PassContext
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.artifact import simulate_artifact
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.targets.loihi.lava_runtime import stream
from snncompile.targets.loihi.numerics import lif_kernel
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.verification.lava import lava_python

NETS = ["dense_chain", "conv_chain", "mlf_net", "residual_net", "stress_graph", "wide_dense", "image_dense", "cuba_net",
        "shortcut_pool_net", "mlf_skip_net"]
SAMPLES = 3
SPARSE = ["shortcut_pool_net", "mlf_skip_net"]
"""Run a second time with every conv skip as Lava's DelaySparse (small skips run as DelayDense by default)."""

if lava_python() is None:
    if os.environ.get("CI"):
        raise RuntimeError(".venv-lava is missing: `make test` creates it with scripts/setup_lava.sh")
    pytest.skip("no .venv-lava (run scripts/setup_lava.sh)", allow_module_level=True)


def build(name: str) -> tuple[ir.Graph, np.ndarray]:
    """The fixed-point graph and a real-valued input [T, SAMPLES, ...] for one test network."""
    rng = np.random.default_rng(7)
    if name == "stress_graph":
        q = testnets.stress_graph()
        return q, (rng.random((q.timesteps, SAMPLES, 600)) < 0.95).astype(float)
    graph = testnets.dense_chain((256, 128, 96, 64), timesteps=10) if name == "wide_dense" \
        else getattr(testnets, name)()
    (inp,) = graph.of_kind(ir.Input)
    x = rng.random((graph.timesteps, SAMPLES, *inp.shape))
    return LOIHI.with_options(calibration=x).pipeline().run(graph, PassContext())[0], x


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ir.Graph, Path, np.ndarray, dict]]:
    root = tmp_path_factory.mktemp("lava")
    jobs, runs, options = [], {}, []
    for name in NETS + [f"{n}@sparse" for n in SPARSE]:
        base = name.removesuffix("@sparse")
        if base == name:
            q, x = build(name)
        else:  # the same graph and input as the default run
            q, _, x, _ = runs[base]
        out = root / name
        out.mkdir()
        emit_loihi(q, out)
        jobs.append((out, x))
        runs[name] = (q, out, x, {})
        options.append({"dense_skip_limit": 0} if name.endswith("@sparse") else {})
    for name, outputs in zip(runs, run_lava_jobs(root, jobs, options), strict=True):
        runs[name][3].update(outputs)
    return runs


@pytest.mark.parametrize("name", NETS + [f"{n}@sparse" for n in SPARSE])
def test_lava_spikes_equal_the_simulator_at_every_layer_and_step(name: str, runs: dict) -> None:
    q, out, x, lava = runs[name]
    if name in SPARSE or name.endswith("@sparse"):  # the conv skips ran as the process the name says
        assert (int(lava["sparse_skips"]) > 0) == name.endswith("@sparse"), int(lava["sparse_skips"])
    _, sim = simulate_artifact(out, stream(x, 0)[:, None])
    layers = sorted(k for k in lava if k.startswith("layer"))
    assert len(layers) == len(q.metadata["loihi"]["layers"])
    compared = spikes = 0
    for key in layers:
        ours = sim[key][:, 0]
        assert lava[key].shape == ours.shape, key
        mismatches = int(np.sum(lava[key] != ours))
        assert mismatches == 0, f"{name} {key}: {mismatches} of {ours.size} spike decisions differ"
        compared, spikes = compared + ours.size, spikes + int(ours.sum())
    assert spikes > 0.02 * compared
    print(f"{name}: {compared} spike decisions over {len(layers)} layers, {spikes} spikes, 0 mismatches")


def test_stress_network_wraps_the_current_and_saturates_the_voltage(runs: dict) -> None:
    q, _, x, _ = runs["stress_graph"]
    res = simulate_loihi(q, stream(x, 0)[:, None])
    events: dict[str, int] = {}
    for pop in q.of_kind(LoihiLIF):
        a = sum(res[e.src] for e in pop.inputs)
        steps = a.shape[0]
        shifted = np.concatenate([np.zeros((1, *a.shape[1:])), a[:-1]])  # every input edge has delay 1
        lif_kernel(shifted.reshape(steps, -1), pop, batch=1, events=events)  # type: ignore[arg-type]
    assert events["wraps"] > 20 and events["saturations"] > 100, events
    print(f"stress: {events}")
