"""Exact-when-representable quantization: networks with an exact integer form compile for Loihi with every spike
decision equal to the float model's (ties v == threshold included), in the simulator and in Lava."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.lava_jobs import run_lava_jobs
from torch import nn

import snncompile
from snncompile import ir
from snncompile.nn import LIF, Readout, TimeDistributed
from snncompile.targets.loihi import simulate_loihi
from snncompile.targets.loihi.artifact import simulate_artifact
from snncompile.targets.loihi.exact import common_scale, decay_bits, largest_power_multiple, two_adic
from snncompile.targets.loihi.lava_runtime import stream
from snncompile.targets.loihi.structure import positions
from snncompile.verification import verify
from snncompile.verification.lava import lava_python, unstream

T = 8


def ternary(model: nn.Module, seed: int, scale: float = 1.0) -> nn.Module:
    """Weights drawn from {−scale, 0, scale}."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.copy_(scale * torch.randint(-1, 2, m.weight.shape, generator=gen).float())
    return model.eval()


def spikes(shape: tuple[int, ...], seed: int, rate: float = 0.5) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, *shape)) < rate).astype(np.float32)


def float_vs_loihi(model: nn.Module, x: np.ndarray, **options: object) -> tuple[int, int, int, ir.Graph]:
    """(mismatching decisions, decisions, exact float ties h == θ) between the folded float graph and the
    compiled integer graph over every population and step; and the compiled graph."""
    shape = tuple(x.shape[2:])
    lowered = snncompile.compile(model, "sim", input_shape=shape, timesteps=T).graph
    compiled = snncompile.compile(model, "loihi", input_shape=shape, timesteps=T,
                                  options={"calibration": x, **options}).graph
    ref, got, pos = snncompile.simulate(lowered, x), simulate_loihi(compiled, x), positions(compiled)
    mismatches = decisions = ties = 0
    for pop in lowered.of_kind(ir.LIF):
        window = got[pop.name][pos[pop.name]:pos[pop.name] + T]
        mismatches += int(np.sum(window != ref[pop.name]))
        decisions += window.size
        ties += count_ties(lowered, ref, pop)  # type: ignore[arg-type]
    return mismatches, decisions, ties, compiled


def count_ties(graph: ir.Graph, res: dict, pop: ir.LIF) -> int:
    """Decisions where the float membrane h equals the threshold exactly (rerun of ir.LIF's update)."""
    x = sum(np.asarray(res[e.src]) for e in pop.inputs)
    gain = 1.0 if pop.gain is None else pop.gain
    v, ties = np.zeros_like(x[0]), 0
    for t in range(x.shape[0]):
        h = pop.decay * v + gain * x[t]
        ties += int(np.sum(h == pop.threshold[0]))
        s = h > pop.threshold[0] if pop.comparison == ">" else h >= pop.threshold[0]
        v = np.where(s, 0.0, h)
    return ties


def spikingjelly() -> tuple:
    pytest.importorskip("spikingjelly.activation_based", reason="spikingjelly is not installed")
    from spikingjelly.activation_based import layer, neuron

    return layer, neuron


def lif_net(inputs: int, seed: int, *tail: nn.Module) -> nn.Module:
    """Strict LIF, decay 1/2, thresholds 2 and 3; weights in {−2, 0, 2} with bias 1, then {−1, 0, 1}."""
    model = ternary(nn.Sequential(TimeDistributed(nn.Linear(inputs, 24)), LIF(decay=0.5, v_th=2.0),
                                  TimeDistributed(nn.Linear(24, 12, bias=False)), LIF(decay=0.5, v_th=3.0), *tail),
                    seed)
    with torch.no_grad():
        model[0][0].weight.mul_(2.0)
        model[0][0].bias.fill_(1.0)
    return model


def exactness(graph: ir.Graph) -> dict[str, dict]:
    return graph.metadata["loihi"]["exactness"]


# ---------------------------------------------------------------------------------------------------------
# the arithmetic of exact.py


def test_common_scale_finds_the_smallest_integer_scale() -> None:
    assert common_scale([np.array([1.0, -1.0, 0.0])], 2, 1000) == 2
    assert common_scale([np.array([0.5, 0.25])], 2, 1000) == 8
    assert common_scale([np.array([1 / 3, 1.0])], 2, 1000) == 6
    assert common_scale([np.array([0.1234567])], 2, 1000) is None
    assert common_scale([np.array([1 / 999])], 2, 1000) is None  # needs 1998 > 1000
    assert largest_power_multiple(6, 254) == 192 and largest_power_multiple(300, 254) is None
    assert two_adic(96) == 5 and decay_bits(2048) == 1 and decay_bits(0) == 0 and decay_bits(4096) == 0
    assert decay_bits(1024) == 2  # keep 3072/4096 = 3/4


# ---------------------------------------------------------------------------------------------------------
# integer-representable networks are exact


def test_spikingjelly_ifnode_with_unit_weights_is_exact_ties_included(tmp_path: Path) -> None:
    """The issue-19 regression: weights ±1, threshold 1, v ≥ θ. Weight 1 became 252 and vThMant 252, losing
    every exact threshold hit; now vth = 128 (weights 128, vThMant 127) reproduces all of them."""
    layer, neuron = spikingjelly()
    model = ternary(nn.Sequential(layer.Linear(16, 32, bias=False, step_mode="m"), neuron.IFNode(step_mode="m"),
                                  layer.Linear(32, 16, bias=False, step_mode="m"), neuron.IFNode(step_mode="m")), 0)
    x = spikes((48, 16), 0)
    bad, total, ties, q = float_vs_loihi(model, x)
    assert (bad, total) == (0, 48 * 48 * T) and ties > 100
    assert all(e["exact"] for e in exactness(q).values())
    # verify calibrates only on a separate `calibration` array (never on the scored samples): binary spikes
    np.savez(tmp_path / "x.npz", x=x, calibration=spikes((48, 16), 1))
    report = verify(model, "loihi", tmp_path / "x.npz", input_shape=(16,), timesteps=T, lava=False)
    assert sum(report.pair("pytorch", "bit-exact").mismatches.values()) == 0


def test_lif_with_integer_weights_thresholds_and_power_of_two_decays_is_exact() -> None:
    """Strict LIF, decay 1/2, integer thresholds 2 and 3, weights in {−1, 0, 1} and {−2, 0, 2}, with a bias
    of 1: exact, ties (h == θ, which must not fire) included. (Decay 3/4 drops 2 bits a step: 7 decays need
    14 trailing zero bits, one more than 64·128 holds, and the layer is reported approximate.)"""
    model = lif_net(20, 1, Readout(12, 4))
    x = spikes((40, 20), 1)
    bad, total, ties, q = float_vs_loihi(model, x)
    assert bad == 0 and ties > 20, (bad, total, ties)
    assert all(e["exact"] for e in exactness(q).values()), exactness(q)


def test_graded_input_on_a_grid_with_ternary_weights_is_exact() -> None:
    model = ternary(nn.Sequential(TimeDistributed(nn.Linear(10, 16, bias=False)), LIF(decay=0.5, v_th=1.0)), 2)
    x = np.random.default_rng(2).integers(0, 5, (T, 32, 10)).astype(np.float64) / 4  # quarters
    bad, _, ties, q = float_vs_loihi(model, x)
    assert bad == 0 and ties > 0
    assert q.metadata["loihi"]["input"]["exact"] and all(e["exact"] for e in exactness(q).values())


def test_spikingjelly_lifnode_tau_2_compiles_exactly_on_the_grid() -> None:
    """v ≥ θ on a leaky membrane was refused (SNC611); with representable weights and decay 1/2 the membrane
    stays on the 64-grid for T steps, so ≥ is encoded exactly."""
    layer, neuron = spikingjelly()
    model = ternary(nn.Sequential(layer.Linear(16, 24, bias=False, step_mode="m"),
                                  neuron.LIFNode(tau=2.0, step_mode="m")), 3)
    bad, _, ties, q = float_vs_loihi(model, spikes((32, 16), 3))
    assert bad == 0 and ties > 0 and all(e["exact"] for e in exactness(q).values())


def test_approximate_layers_say_why_in_metadata_manifest_and_report(tmp_path: Path) -> None:
    model = nn.Sequential(TimeDistributed(nn.Linear(16, 12, bias=False)), LIF(decay=0.5, v_th=1.0),
                          TimeDistributed(nn.Linear(12, 8, bias=False)), LIF(decay=0.5, v_th=1.0))
    ternary(model, 4)
    with torch.no_grad():
        model[2][0].weight.mul_(0.3141)
    x = spikes((8, 16), 4)
    out = tmp_path / "out"
    result = snncompile.compile(model, "loihi", out, input_shape=(16,), timesteps=T, options={"calibration": x})
    entries = exactness(result.graph)
    exact = {n: e["exact"] for n, e in entries.items()}
    assert sorted(exact.values()) == [False, True], entries
    (reason,) = next(e["reasons"] for e in entries.values() if not e["exact"])
    assert reason.startswith("weights:")
    assert any(d.code == "SNC626" for d in result.diagnostics)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["exact"] for layer in manifest["layers"]] == [True, False]
    assert manifest["layers"][1]["approximate"][0].startswith("weights:")
    report = json.loads((out / "report.json").read_text())
    assert report["loihi"]["exactness"] == entries


# ---------------------------------------------------------------------------------------------------------
# Lava agrees


@pytest.mark.skipif(lava_python() is None, reason="no Lava interpreter (scripts/setup_lava.sh)")
def test_lava_runs_the_exact_networks_spike_for_spike(tmp_path: Path) -> None:
    layer, neuron = spikingjelly()
    ifnet = ternary(nn.Sequential(layer.Linear(16, 32, bias=False, step_mode="m"), neuron.IFNode(step_mode="m"),
                                  layer.Linear(32, 16, bias=False, step_mode="m"), neuron.IFNode(step_mode="m")), 0)
    lifnet = lif_net(16, 5)
    jobs, runs = [], {}
    for name, model in (("if", ifnet), ("lif", lifnet)):
        x = spikes((3, 16), 6)
        lowered = snncompile.compile(model, "sim", input_shape=(16,), timesteps=T).graph
        out = tmp_path / name
        result = snncompile.compile(model, "loihi", out, input_shape=(16,), timesteps=T, options={"calibration": x})
        jobs.append((out, x))
        runs[name] = (lowered, result.graph, out, x)
    for (name, (lowered, _, out, x)), outputs in zip(runs.items(), run_lava_jobs(tmp_path, jobs), strict=True):
        lava = {k: v for k, v in outputs.items() if k.startswith("layer")}
        _, sim = simulate_artifact(out, stream(x, 0)[:, None])
        assert lava and all(np.array_equal(lava[k], sim[k][:, 0]) for k in lava), name
        ref = snncompile.simulate(lowered, x)
        for k, pop in enumerate(lowered.of_kind(ir.LIF), start=1):  # Lava's stream, back to [T, B, ...]
            assert np.array_equal(unstream(lava[f"layer{k}"], x.shape[1], T, k), ref[pop.name]), (name, pop.name)
