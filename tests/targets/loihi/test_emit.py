"""Emitting network.net + manifest.json, reading the artifact back, compile() and `snncompile simulate` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import snncompile
import snncompile.nn as snn
from snncompile import ir
from snncompile.cli import cli
from snncompile.passes import PassContext
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.artifact import load_artifact, simulate_artifact
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.targets.loihi.ops import LoihiLIF


def emitted(name: str, tmp_path: Path) -> tuple[ir.Graph, Path]:
    graph = getattr(testnets, name)()
    q = LOIHI.pipeline().run(graph, PassContext())[0]
    out = tmp_path / name
    out.mkdir()
    emit_loihi(q, out)
    return q, out


def test_netx_file_layout(tmp_path: Path) -> None:
    _, out = emitted("conv_chain", tmp_path)
    with h5py.File(out / "network.net") as f:
        types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        # the chain, then the guard layer that makes stock netx refuse a network with skips / a host readout
        assert types == ["input", "conv", "conv", "conv", "conv", "conv", "conv", "flatten", "dense", "input"]
        assert set(f["layer/0"]) == {"type", "shape"} and list(f["layer/0/shape"][()]) == [2, 9, 7]
        conv = f["layer/2"]
        assert list(conv["stride"][()]) == [2, 1] and list(conv["dilation"][()]) == [2, 1] and conv["groups"][()] == 2
        pool = f["layer/3"]  # sum pooling as a depthwise conv
        assert pool["groups"][()] == 6 and pool["weight"].shape == (6, 1, 2, 2)
        neuron = f["layer/8/neuron"]
        assert neuron["type"][0] == b"CUBA" and neuron["iDecay"][()] == 4096 and neuron["vDecay"][()] == 3072
        assert len(f["snncompile/skip"]) >= 1 and "snncompile/readout" in f


def test_manifest_describes_schedule_ledger_encoding_and_readout(tmp_path: Path) -> None:
    q, out = emitted("mlf_net", tmp_path)
    man = json.loads((out / "manifest.json").read_text())
    assert man["latency"] == 3 and man["steps"] == man["timesteps"] + 3
    assert {k: v for k, v in man["netx"].items() if k not in ("num_layers", "stock_netx")} == {
        "reset_interval": man["timesteps"], "reset_offset": 1, "input_message_bits": man["input"]["bits"]}
    assert man["netx"]["stock_netx"].startswith("refused") and man["netx"]["num_layers"] > len(man["layers"])
    first = man["layers"][0]
    assert first["shape"] == [12, 6, 6] and [m["node"] for m in first["members"]] == \
        ["mlf0.level0", "mlf0.level1", "mlf0.level2"]
    assert first["members"][2]["offset"] == 2 * 144 and first["valid_steps"] == [2, 1 + man["timesteps"]]
    assert set(man["ledger"]) == {p.name for p in q.of_kind(LoihiLIF)}
    assert man["readout"]["classes"] == 4 and man["semantics"]


@pytest.mark.parametrize("name", ["dense_chain", "conv_chain", "mlf_net", "residual_net", "cuba_net",
                                  "shortcut_pool_net", "mlf_skip_net"])
def test_artifact_reads_back_to_the_same_spikes_and_logits(name: str, tmp_path: Path) -> None:
    q, out = emitted(name, tmp_path)
    man = json.loads((out / "manifest.json").read_text())
    (inp,) = q.of_kind(ir.Input)
    x = np.random.default_rng(0).random((q.timesteps, 4, *inp.shape))
    _, art = simulate_artifact(out, x)
    ref = simulate_loihi(q, x)
    for layer in man["layers"]:
        spikes = art[f"layer{layer['index']}"]
        flat = spikes.reshape(*spikes.shape[:2], -1)
        for m in layer["members"]:
            member = ref[m["node"]].reshape(*spikes.shape[:2], -1)
            np.testing.assert_array_equal(flat[..., m["offset"]:m["offset"] + m["size"]], member)
    np.testing.assert_allclose(art["readout"], ref["readout"], rtol=1e-9, atol=1e-9)
    assert load_artifact(out).metadata["loihi"]["latency"] == man["latency"]


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(snn.TimeDistributed(nn.Flatten()), nn.Linear(36, 24), snn.LIF(v_th=0.3),
                          nn.Linear(24, 16), snn.LIF(v_th=0.3), snn.Readout(16, 3))
    model.input_shape, model.timesteps = (1, 6, 6), 5
    return model.eval()


def test_compile_api_and_cli_simulate_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = snncompile.compile(mlp(), "loihi", out)
    assert {p.name for p in out.iterdir()} == {"network.net", "manifest.json", "report.json"}
    assert json.loads((out / "report.json").read_text())["loihi"]["latency"] == 2
    x = np.random.default_rng(1).random((5, 3, 1, 6, 6))
    np.save(tmp_path / "x.npy", x)
    res = CliRunner().invoke(cli, ["simulate", str(out), "--input", str(tmp_path / "x.npy"), "-o",
                                   str(tmp_path / "r.npz")])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "r.npz") as data:
        assert set(data.files) == {"2", "4", "5"}  # the model's IR names, on its 5 steps (delays 1 and 2 removed)
        assert data["2"].shape == (5, 3, 24) and data["5"].shape == (3, 3)
        np.testing.assert_array_equal(data["4"], simulate_loihi(result.graph, x)["4"][2:7])


def test_compile_errors_leave_no_output(tmp_path: Path) -> None:
    model = mlp()
    model[2].reset = "subtract"
    with pytest.raises(snncompile.CompileError) as err:
        snncompile.compile(model, "loihi", tmp_path / "bad")
    assert "SNC610" in err.value.codes and not (tmp_path / "bad").exists()


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "k"),
                         [((1, 1), (1, 1), (1, 1), 1, 3), ((2, 2), (0, 0), (1, 1), 1, 1),
                          ((2, 1), (1, 2), (1, 2), 2, 3), ((1, 1), (0, 0), (1, 1), 4, 1)])
def test_lava_conv_skip_synapses_equal_the_dense_matrix(stride: tuple[int, int], padding: tuple[int, int],
                                                        dilation: tuple[int, int], groups: int, k: int) -> None:
    """The Lava runtime builds a conv skip synapse by synapse; placed at its offsets it is the conv's matrix."""
    from snncompile.targets.loihi.lava_runtime import conv_connections
    from snncompile.targets.loihi.netx_plan import dense_matrix

    rng = np.random.default_rng(0)
    conv = ir.Conv2d("c", ("x",), weight=rng.integers(-3, 4, (4, 4 // groups, k, k)).astype(float), stride=stride,
                     padding=padding, dilation=dilation, groups=groups)
    in_shape = (4, 7, 6)
    out_shape = conv.infer_shape([in_shape])
    record = {"weight": conv.weight, "stride": np.array(stride), "padding": np.array(padding),
              "dilation": np.array(dilation), "groups": np.int64(groups), "in_shape": np.array(in_shape),
              "out_shape": np.array(out_shape), "src_offset": np.int64(168), "dst_offset": np.int64(5)}
    rows, cols, vals = conv_connections(record)
    n_out, n_in = int(np.prod(out_shape)), int(np.prod(in_shape))
    got = np.zeros((n_out + 5, n_in + 168))
    np.add.at(got, (rows, cols), vals)
    want = np.zeros_like(got)
    want[5:, 168:] = dense_matrix(conv, in_shape)
    np.testing.assert_array_equal(got, want)
