"""ONNX export in Loihi integer arithmetic: onnxruntime reproduces the bit-exact simulator spike for spike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

import snncompile
from snncompile import ir
from snncompile.cli import cli
from snncompile.datasets import digits_split, direct_encode
from snncompile.errors import CompileError
from snncompile.frontend.onnx.fixed_reader import read_fixed_onnx
from snncompile.passes import PassContext
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.artifact import load_artifact
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.targets.loihi.numerics import compact, lif_kernel
from snncompile.targets.loihi.ops import Encode, LoihiLIF, SkipDense
from snncompile.targets.onnx.driver import run_onnx
from snncompile.targets.onnx.export import export_step
from snncompile.targets.onnx.fixed_export import export_fixed_step
from snncompile.targets.onnx.fixed_target import ONNX_LOIHI

torch.set_num_threads(1)
STEPS, BATCH = 16, 4
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "models"


def conv_net() -> ir.Graph:
    """Stride, padding, dilation, groups, sum and average pooling between populations, two branches into one
    population, and average pooling on the host before the readout."""
    b = testnets.Builder((2, 12, 10), seed=5, timesteps=STEPS)
    a = b.lif("lif0", [b.conv("conv0", "input", 4, 3, stride=(1, 2), padding=(1, 0), gain=2.0, bias=0.2)])
    a = b.lif("lif1", [b.conv("conv1", a, 6, 3, stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=2,
                              gain=2.0, bias=0.1)])
    a = b.lif("lif2", [b.pool("pool2", a, 2, "sum")], theta=1.5)
    c = b.lif("lif2b", [b.conv("conv2b", "input", 4, 3, gain=2.0)])
    c = b.lif("lif3", [b.pool("pool3", c, 2, "avg")], theta=0.3)
    c = b.conv("conv3", c, 6, 3, stride=(3, 2), padding=(1, 1), gain=2.0)
    out = b.lif("lif4", [b.conv("conv4", a, 6, 3, padding=(1, 1), gain=2.0), c], theta=0.4)
    return b.readout(b.pool("pool_out", out, 2, "avg"))


NETS = {
    "dense": lambda: testnets.dense_chain(timesteps=STEPS),
    "conv": conv_net,
    "residual": lambda: testnets.residual_net(timesteps=STEPS),
    "mlf": lambda: testnets.mlf_net(timesteps=STEPS),
    "cuba": lambda: testnets.cuba_net(timesteps=STEPS),  # decaying synaptic current: iDecay < 4096
}


def check_exact(graph: ir.Graph, model: onnx.ModelProto, x: np.ndarray) -> tuple[int, dict[str, np.ndarray]]:
    """Asserts onnxruntime's spikes equal the simulator's for every LoihiLIF (each of which spikes) and the
    readout; returns the number of spike decisions compared and onnxruntime's outputs."""
    ref, got = simulate_loihi(graph, x, pipelined=False), run_onnx(model, x)
    lifs = graph.of_kind(LoihiLIF)
    assert lifs
    for n in lifs:
        assert ref[n.name].any(), f"{n.name} never spikes: the comparison would be weak"
        np.testing.assert_array_equal(got[n.name], ref[n.name], err_msg=n.name)
    for out in graph.outputs:
        if isinstance(graph.node(out), ir.Readout):
            np.testing.assert_allclose(got[out], ref[out], rtol=0, atol=1e-9)
            np.testing.assert_array_equal(got[out].argmax(1), ref[out].argmax(1))
    assert 0 < np.mean([ref[n.name].mean() for n in lifs]) < 1
    return sum(ref[n.name].size for n in lifs), got


@pytest.fixture(scope="module", params=sorted(NETS))
def compiled(request: pytest.FixtureRequest) -> tuple[ir.Graph, onnx.ModelProto]:
    graph = LOIHI.pipeline().run(NETS[request.param](), PassContext())[0]
    return graph, export_fixed_step(graph)


def test_onnxruntime_reproduces_the_bit_exact_simulator(compiled: tuple[ir.Graph, onnx.ModelProto]) -> None:
    graph, model = compiled
    (inp,) = graph.of_kind(ir.Input)
    x = np.random.default_rng(1).random((STEPS, BATCH, *inp.shape))
    assert check_exact(graph, model, x)[0] > 0


def test_onnxruntime_equals_the_pipelined_chip_schedule(compiled: tuple[ir.Graph, onnx.ModelProto]) -> None:
    """Against the pipelined run (what Loihi executes: one step per hop, T + latency steps), population p's
    valid window starts at its depth: onnxruntime's step t is the chip's step t + p."""
    from snncompile.targets.loihi.structure import positions

    graph, model = compiled
    (inp,) = graph.of_kind(ir.Input)
    x = np.random.default_rng(2).random((STEPS, BATCH, *inp.shape))
    piped, got = simulate_loihi(graph, x), run_onnx(model, x)
    pos = positions(graph)
    for n in graph.of_kind(LoihiLIF):
        np.testing.assert_array_equal(got[n.name], piped[n.name][pos[n.name]:pos[n.name] + STEPS], err_msg=n.name)
    (out,) = graph.outputs
    np.testing.assert_allclose(got[out], piped[out], rtol=0, atol=1e-9)


def test_checker_functions_and_metadata(compiled: tuple[ir.Graph, onnx.ModelProto]) -> None:
    graph, model = compiled
    onnx.checker.check_model(model, full_check=True)
    assert all(f.domain == "snncompile" for f in model.functions)
    assert all(n.domain == "" for f in model.functions for n in f.node)  # standard operators only
    calls = {n.name: n.op_type for n in model.graph.node}
    assert all(calls[n.name].startswith("LoihiLIF_in") for n in graph.of_kind(LoihiLIF))
    assert all(calls[n.name] == "Encode" for n in graph.of_kind(Encode))
    props = {p.key: p.value for p in model.metadata_props}
    assert '"arithmetic": "loihi-fixed"' in props["snncompile"] and '"ledger"' in props["snncompile"]


def test_export_read_export_is_byte_identical(compiled: tuple[ir.Graph, onnx.ModelProto]) -> None:
    graph, model = compiled
    back = read_fixed_onnx(model)
    assert ir.print_graph(back).splitlines()[1:] == ir.print_graph(compact(graph)).splitlines()[1:]
    assert back.metadata["loihi"]["ledger"] == graph.metadata["loihi"]["ledger"]
    assert export_fixed_step(back).SerializeToString() == model.SerializeToString()


def test_host_pooling_and_conv_options_are_exercised() -> None:
    graph = compact(LOIHI.pipeline().run(conv_net(), PassContext())[0])
    convs = graph.of_kind(ir.Conv2d)
    assert any(c.groups > 1 for c in convs) and any(c.dilation != (1, 1) for c in convs)  # type: ignore[attr-defined]
    assert any(c.stride != (1, 1) for c in convs) and any(c.padding != (0, 0) for c in convs)  # type: ignore[attr-defined]
    assert [p.mode for p in graph.of_kind(ir.Pool2d)] == ["avg"]  # type: ignore[attr-defined]


def test_stress_net_wraps_the_current_and_saturates_the_voltage() -> None:
    graph = testnets.stress_graph(timesteps=24)
    rng = np.random.default_rng(0)
    density = np.array([0.6, 0.97, 1.0])[None, :, None]
    x = (rng.random((24, 3, 600)) < density).astype(float)
    assert check_exact(graph, export_fixed_step(graph), x)[0] > 0
    ref, events = simulate_loihi(graph, x, pipelined=False), dict[str, int]()
    for n in compact(graph).of_kind(LoihiLIF):
        a = ref[n.inputs[0].src]
        lif_kernel(a.reshape(a.shape[0], -1), n, a.shape[1], events)  # type: ignore[arg-type]
    assert events["wraps"] > 100 and events["saturations"] > 100


def int64_lif(a: np.ndarray, op: LoihiLIF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s, u, v [T, ..] by LoihiLIF's docstring equations in int64 (docs/LOIHI.md 3.1), from u = v = 0."""
    b16 = (op.bias.astype(np.int64) + 2**15) % 2**16 - 2**15  # type: ignore[union-attr]
    u, v = np.zeros(a.shape[1:], np.int64), np.zeros(a.shape[1:], np.int64)
    out = np.zeros((3, *a.shape), np.int64)

    def dec(x: np.ndarray, d: int) -> np.ndarray:
        p = x * (4096 - d)
        return np.sign(p) * (np.abs(p) >> 12)

    for t in range(a.shape[0]):
        u1 = dec(u, op.i_decay) + a[t].astype(np.int64) * 64
        u = np.where(u1 > 2**23, u1 - 2**24, np.where(u1 <= -(2**23), u1 + 2**24, u1))
        v = np.clip(dec(v, op.v_decay) + u + b16 * 64, -(2**23 - 1), 2**23 - 1)
        spikes = v > op.threshold * 64
        v = np.where(spikes, 0, v)
        out[:, t] = spikes, u, v
    return out[0], out[1], out[2]


def onnx_lif(model: onnx.ModelProto, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s, u, v [T, ..] of the exported population `lif`, stepped with onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    state = np.zeros((2, *a.shape[1:]))
    out = np.zeros((3, *a.shape))
    for t in range(a.shape[0]):
        s, state = session.run(["lif", "state_next:lif"], {"x:input": a[t], "state:lif": state})
        out[:, t] = s, state[0], state[1]
    return out[0], out[1], out[2]


@pytest.mark.parametrize("seed", range(4))
def test_lif_function_states_equal_the_int64_equations(seed: int) -> None:
    """u and v at every step, for any decays, int16-wrapping biases and thresholds, |A| up to 3·10^5; seed 0 is
    memoryless (u = 64·A, v = u + 64·b16) and hits the boundaries: u1 = ±2^23 (wrap) and v = 64·threshold."""
    rng = np.random.default_rng(seed)
    n, steps = 24, 40
    memoryless = seed == 0
    lif = LoihiLIF("lif", (ir.Edge("input"),), threshold=int(rng.integers(0, 2**17)),
                   i_decay=4096 if memoryless else int(rng.integers(0, 4097)),
                   v_decay=4096 if memoryless else int(rng.integers(0, 4097)),
                   bias=rng.integers(-40000, 40000, n).astype(float), scale=np.ones(n))
    graph = ir.Graph((ir.Input("input", (), shape=(n,)), lif), ("lif",), {"timesteps": steps})
    a = rng.integers(-300_000, 300_000, (steps, 3, n)).astype(float)
    a[..., :6] = rng.choice([2**17, -(2**17), 2**17 + 1, -(2**17) - 1, 2**17 - 1], (steps, 3, 6))
    b16 = (lif.bias + 2**15) % 2**16 - 2**15  # type: ignore[operator]
    a[..., 6:12] = lif.threshold - b16[6:12] + rng.integers(0, 2, (steps, 3, 6))  # v = 64·threshold (+ 64)
    got, ref = onnx_lif(export_fixed_step(graph), a), int64_lif(a, lif)
    for name, g, r in zip("suv", got, ref, strict=True):
        np.testing.assert_array_equal(g, r, err_msg=name)
    events: dict[str, int] = {}
    np.testing.assert_array_equal(lif_kernel(a.reshape(steps, -1), lif, 3, events).reshape(a.shape), got[0])
    assert events["wraps"] > 0 and events["saturations"] > 0 and 0 < got[0].mean() < 1
    if memoryless:  # u = +2^23 reached from both sides; v = 64·threshold exactly does not fire
        assert np.sum(ref[1] == 2**23) > 10 and np.sum(ref[2] == 64 * lif.threshold) > 10


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(threshold=st.integers(0, 2**17 - 1), i_decay=st.integers(0, 4096), v_decay=st.integers(0, 4096),
       bias=st.integers(-(2**16), 2**16), scale=st.sampled_from([1, 64, 4096, 2**17]), seed=st.integers(0, 2**31))
def test_lif_function_property(threshold: int, i_decay: int, v_decay: int, bias: int, scale: int, seed: int) -> None:
    """Property: for any 12-bit decays, 17-bit threshold, any bias (int16 wrap included) and drives of any
    magnitude class, onnxruntime's integer LIF equals the int64 equations and the simulator's kernel, every step."""
    rng = np.random.default_rng(seed)
    n, steps = 8, 16
    lif = LoihiLIF("lif", (ir.Edge("input"),), threshold=threshold, i_decay=i_decay, v_decay=v_decay,
                   bias=(bias + rng.integers(-3, 4, n)).astype(float), scale=np.ones(n))
    graph = ir.Graph((ir.Input("input", (), shape=(n,)), lif), ("lif",), {"timesteps": steps})
    a = rng.integers(-scale, scale + 1, (steps, 2, n)).astype(float)
    got, ref = onnx_lif(export_fixed_step(graph), a), int64_lif(a, lif)
    for name, g, r in zip("suv", got, ref, strict=True):
        np.testing.assert_array_equal(g, r, err_msg=name)
    np.testing.assert_array_equal(lif_kernel(a.reshape(steps, -1), lif, 2).reshape(a.shape), got[0])


def test_conv_sums_wrap_at_24_bits_as_in_the_simulator() -> None:
    rng = np.random.default_rng(3)
    w = 2 * rng.integers(-128, 128, (5, 4, 3, 3)).astype(float)
    nodes = (ir.Input("input", (), shape=(4, 7, 6)), Encode("enc", (ir.Edge("input"),), scale=1.0, low=0, high=2**15),
             ir.Conv2d("conv", (ir.Edge("enc"),), weight=w, padding=(1, 1), stride=(2, 1), dilation=(1, 2)),
             LoihiLIF("lif", (ir.Edge("conv"),), threshold=100, i_decay=1024, v_decay=512, scale=np.ones((5, 4, 4))))
    graph = ir.Graph(nodes, ("conv", "lif"), {"timesteps": 6})
    x = rng.integers(0, 2**15, (6, 2, 4, 7, 6)).astype(float)
    ref, got = simulate_loihi(graph, x, pipelined=False), run_onnx(export_fixed_step(graph), x)
    raw = torch.nn.functional.conv2d(torch.from_numpy(x.reshape(12, 4, 7, 6)).long(), torch.from_numpy(w).long(),
                                     padding=(1, 1), stride=(2, 1), dilation=(1, 2)).numpy()
    assert np.mean(np.abs(raw) >= 2**23) > 0.1  # the wrap is exercised
    np.testing.assert_array_equal(got["conv"], ref["conv"])
    np.testing.assert_array_equal(got["lif"], ref["lif"])
    np.testing.assert_array_equal(got["conv"].reshape(raw.shape), (raw + 2**23) % 2**24 - 2**23)


def test_loihi_artifact_with_skip_synapses_round_trips(tmp_path: Path) -> None:
    """The graph read back from an emitted netx artifact: conv skips as Conv2d, the dense skip and the readout
    maps as SkipDense."""
    q = LOIHI.pipeline().run(testnets.residual_net(timesteps=STEPS), PassContext())[0]
    emit_loihi(q, tmp_path)
    graph = load_artifact(tmp_path)
    model = export_fixed_step(graph)
    conv_skips = [n for n in graph.of_kind(ir.Conv2d) if n.name.startswith("skip")]
    assert len(conv_skips) >= 3 and len(graph.of_kind(SkipDense)) >= 2
    assert "SkipDense" in {f.name for f in model.functions}
    x = np.random.default_rng(4).random((STEPS, BATCH, 2, 6, 6))
    assert check_exact(graph, model, x)[0] > 0
    assert export_fixed_step(read_fixed_onnx(model)).SerializeToString() == model.SerializeToString()


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return digits_split()


@pytest.mark.parametrize("stem", ["mpbn_cnn", "tdbn_resnet", "s2nn_mlp", "mlf_dsresnet", "psp_preact_resnet"])
def test_trained_example_model_on_digits(stem: str, digits: tuple[np.ndarray, ...]) -> None:
    model = snncompile.load(EXAMPLES / f"{stem}.pt")
    steps = model.timesteps
    x_tr, _, x_te, y_te = digits
    calibration = direct_encode(x_tr[:128], steps).astype(np.float64)
    graph = snncompile.compile(model, "onnx-loihi", options={"calibration": calibration}).graph
    count = 32 if stem in ("mlf_dsresnet", "psp_preact_resnet") else 150
    decisions, got = check_exact(graph, export_fixed_step(graph), direct_encode(x_te[:count], steps).astype(np.float64))
    assert decisions > 10_000
    assert np.mean(got[graph.outputs[0]].argmax(1) == y_te[:count]) > 0.9


def test_reader_names_unsupported_nodes_and_foreign_functions() -> None:
    graph = LOIHI.pipeline().run(testnets.dense_chain(timesteps=STEPS), PassContext())[0]
    model = export_fixed_step(graph)
    bad = onnx.ModelProto()
    bad.CopyFrom(model)
    bad.graph.node.append(helper.make_node("Relu", ["lif1"], ["r"], name="my_relu"))
    with pytest.raises(CompileError, match="my_relu") as info:
        read_fixed_onnx(bad)
    assert info.value.codes == ["SNC951"] and info.value.diagnostics[0].node == "my_relu"
    tampered = onnx.ModelProto()
    tampered.CopyFrom(model)
    lif_fn = next(f for f in tampered.functions if f.name.startswith("LoihiLIF"))
    next(n for n in lif_fn.node if n.op_type == "Clip").op_type = "Max"
    with pytest.raises(CompileError, match="function body") as info:
        read_fixed_onnx(tampered)
    assert info.value.codes == ["SNC951"] and info.value.diagnostics[0].node == "lif0"
    with pytest.raises(CompileError) as info:
        read_fixed_onnx(export_step(testnets.dense_chain(timesteps=STEPS)))  # float step model
    assert info.value.codes == ["SNC952"]


def test_export_refuses_float_graphs_naming_the_node() -> None:
    with pytest.raises(CompileError, match="lif0") as info:
        export_fixed_step(testnets.dense_chain(bias=0.0))
    diag = info.value.diagnostics[0]
    assert info.value.codes == ["SNC950"] and diag.node == "lif0" and diag.origin == "lif0" and diag.hint


def test_cli_target_onnx_loihi_end_to_end(tmp_path: Path, digits: tuple[np.ndarray, ...]) -> None:
    """`snncompile MODEL --target onnx-loihi -o DIR` with a --loihi-* option: model.onnx is the graph that target
    loihi compiles with the same option, and onnxruntime reproduces its simulator on digits."""
    path, out = EXAMPLES / "mpbn_cnn.pt", tmp_path / "out"
    listed = CliRunner().invoke(cli, ["--list-targets"])
    assert "onnx-loihi" in listed.stdout
    result = CliRunner().invoke(cli, [str(path), "--target", "onnx-loihi", "-o", str(out), "--loihi-input-bits", "4"])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "report.json", "run_onnx.py"]
    report = json.loads((out / "report.json").read_text())
    assert report["target"] == "onnx-loihi" and report["onnx"]["arithmetic"] == "loihi-fixed"
    graph = snncompile.compile(path, "loihi", options={"input_bits": 4}).graph
    assert [e.high for e in graph.of_kind(Encode)] == [15]  # type: ignore[attr-defined]  (4-bit payloads)
    model = onnx.load(str(out / "model.onnx"))
    assert ir.print_graph(read_fixed_onnx(model)).splitlines()[1:] == ir.print_graph(compact(graph)).splitlines()[1:]
    x = direct_encode(digits[2][:100], graph.timesteps).astype(np.float64)  # type: ignore[arg-type]
    assert check_exact(graph, model, x)[0] > 0


def test_shipped_driver_runs_the_artifact_without_snncompile(tmp_path: Path) -> None:
    """run_onnx.py next to model.onnx imports only numpy, onnx, onnxruntime and the standard library, and its
    command line writes the same outputs as the simulator."""
    import ast
    import subprocess
    import sys

    graph = LOIHI.pipeline().run(testnets.residual_net(timesteps=STEPS), PassContext())[0]
    out = tmp_path / "art"
    out.mkdir()
    ONNX_LOIHI.emit(graph, out, {})
    driver = out / "run_onnx.py"
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(driver.read_text()))
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(driver.read_text()))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "argparse", "sys", "collections", "pathlib", "numpy", "onnx", "onnxruntime"}
    x = np.random.default_rng(4).random((STEPS, 3, *graph.nodes[0].shape))  # type: ignore[attr-defined]
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([sys.executable, str(driver), str(out / "model.onnx"), str(tmp_path / "x.npy"),
                           str(tmp_path / "o.npz")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ref = simulate_loihi(graph, x, pipelined=False)
    with np.load(tmp_path / "o.npz") as got:
        for n in graph.of_kind(LoihiLIF):
            np.testing.assert_array_equal(got[n.name], ref[n.name])
