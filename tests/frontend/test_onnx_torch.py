"""PyTorch step modules exported to ONNX with explicit state read back into the IR, spike for spike."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.frontend.onnx.reader import read_onnx
from snncompile.sim import simulate
from snncompile.targets.onnx.driver import run_onnx
from snncompile.targets.onnx.export import export_step

T, B = 12, 4


class ConvStep(nn.Module):
    """Conv → LIF (per-neuron decay, zero reset) → max pool → view(B, -1) → Linear, plus a skip of the pooled
    input (AvgPool2d, nn.Flatten, bias-free Linear) → LIF (≥, per-neuron θ, subtract) → Linear readout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.pool, self.avg, self.flat = nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Flatten()
        self.fc, self.skip, self.out = nn.Linear(4 * 4 * 4, 10), nn.Linear(2 * 4 * 4, 10, bias=False), nn.Linear(10, 3)
        self.decay = nn.Parameter(torch.linspace(0.1, 0.9, 4 * 8 * 8).reshape(4, 8, 8))
        self.register_buffer("theta", torch.linspace(0.1, 0.3, 10))

    def forward(self, x: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h1 = self.decay * v1 + self.conv(x)
        s1 = (h1 > 0.3).to(h1.dtype)
        p = self.pool(s1)
        h2 = 0.9 * v2 + (self.fc(p.view(p.size(0), -1)) + self.skip(self.flat(self.avg(x))))
        s2 = (h2 >= self.theta).to(h2.dtype)
        return s1, h1 * (1 - s1), s2, h2 - self.theta * s2, self.out(s2)


class DenseStep(nn.Module):
    """Gain (h = v·0.8 + 0.5·drive), reset none, a stateless threshold neuron (decay 0), a hidden LIF."""

    def __init__(self) -> None:
        super().__init__()
        self.fc0, self.fc1, self.fc2, self.fc3 = nn.Linear(20, 16), nn.Linear(20, 16), nn.Linear(16, 12), \
            nn.Linear(16, 12, bias=False)

    def forward(self, x: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h1 = v1 * 0.8 + 0.5 * self.fc1(x)
        s1 = (h1 >= 0.4).to(h1.dtype)
        s0 = (self.fc0(x) > 0.2).to(x.dtype)
        h2 = v2 * 0.5 + (self.fc2(s1) + self.fc3(s0))
        s2 = (h2 > 0.3).to(h2.dtype)
        return s2, h1, h2 * (1 - s2)


CASES = {
    "conv": (ConvStep, (2, 8, 8), [(4, 8, 8), (10,)], ["x:in", "state:lif1", "state:lif2"],
             ["lif1", "state_next:lif1", "lif2", "state_next:lif2", "logits"]),
    "dense": (DenseStep, (20,), [(16,), (12,)], ["x:in", "state:a", "state:b"], ["b", "state_next:a",
                                                                                  "state_next:b"]),
}


def export(module: nn.Module, args: tuple[torch.Tensor, ...], inputs: list[str] | None,
           outputs: list[str] | None) -> onnx.ModelProto:
    f = io.BytesIO()
    axes = {n: {0: "batch"} for n in (inputs or []) + (outputs or [])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, f, dynamo=False, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes or None)
    return onnx.load_from_string(f.getvalue())


def build(case: str, dtype: torch.dtype, named: bool = True) -> tuple[nn.Module, onnx.ModelProto, torch.Tensor]:
    cls, shape, states, inputs, outputs = CASES[case]
    torch.manual_seed(0)
    module = cls().eval().to(dtype)
    args = (torch.zeros(2, *shape, dtype=dtype), *(torch.zeros(2, *s, dtype=dtype) for s in states))
    model = export(module, args, inputs if named else None, outputs if named else None)
    x = torch.rand((T, B, *shape), generator=torch.Generator().manual_seed(1), dtype=dtype) * 1.5
    return module, model, x


def torch_loop(module: nn.Module, x: torch.Tensor, case: str) -> list[np.ndarray]:
    """Every output of the step module over T (state fed back), stacked [T, B, ...]."""
    states = [torch.zeros((B, *s), dtype=x.dtype) for s in CASES[case][2]]
    outs = CASES[case][4]
    steps = []
    with torch.no_grad():
        for t in range(T):
            y = module(x[t], *states)
            states = [y[outs.index(f"state_next:{n[6:]}")] for n in CASES[case][3][1:]]
            steps.append(y)
    return [torch.stack([s[i] for s in steps]).numpy() for i in range(len(steps[0]))]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_step_module_reads_back_spike_for_spike(case: str, dtype: torch.dtype) -> None:
    module, model, x = build(case, dtype)
    graph = read_onnx(model, timesteps=T)
    ref = torch_loop(module, x, case)
    got = simulate(graph, x, dtype=dtype)
    for i, name in enumerate(CASES[case][4]):
        if name in graph and isinstance(graph.node(name), ir.Readout):  # the mean over T, summed in IR order
            np.testing.assert_allclose(got[name], ref[i].mean(0), rtol=1e-6, atol=0)
        elif name in graph:
            assert 0 < ref[i].mean() < 1
            np.testing.assert_array_equal(got[name], ref[i], err_msg=name)
    assert len(graph.of_kind(ir.LIF)) == (2 if case == "conv" else 3)
    back = read_onnx(export_step(graph))  # and through the float step model
    assert ir.print_graph(back) == ir.print_graph(graph)


def test_kinds_read_from_the_patterns() -> None:
    graph = read_onnx(build("dense", torch.float64)[1])
    a, hidden, b = (graph.node(n) for n in ("a", "lif1", "b"))
    assert (a.reset, a.comparison, float(a.decay[0]), float(a.gain[0])) == ("none", ">=", 0.8, 0.5)
    assert (hidden.reset, float(hidden.decay.max()), hidden.gain) == ("none", 0.0, None)  # stateless threshold
    assert (b.reset, len(b.inputs), graph.outputs) == ("zero", 2, ("b",))
    conv = read_onnx(build("conv", torch.float64)[1])
    assert [n.kind for n in conv.nodes] == ["input", "conv2d", "lif", "maxpool2d", "flatten", "dense", "pool2d",
                                            "flatten", "dense", "lif", "readout"]
    assert conv.node("lif2").reset == "subtract" and conv.node("lif1").decay.std() > 0


def test_onnxruntime_driver_runs_the_export() -> None:
    module, model, x = build("conv", torch.float32)
    got, ref = run_onnx(model, x.numpy()), torch_loop(module, x, "conv")
    np.testing.assert_array_equal(got["lif1"], ref[0])
    np.testing.assert_array_equal(got["lif2"], ref[2])


def test_unnamed_state_falls_back_to_structure() -> None:
    module, model, x = build("conv", torch.float64, named=False)
    graph = read_onnx(model, timesteps=T)
    ref = torch_loop(module, x, "conv")
    got = simulate(graph, x)
    assert len(graph.outputs) == 3 and isinstance(graph.node(graph.outputs[2]), ir.Readout)
    np.testing.assert_array_equal(got[graph.outputs[0]], ref[0])
    np.testing.assert_array_equal(got[graph.outputs[1]], ref[2])


class Bad(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind, self.fc = kind, nn.Linear(6, 5)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        drive = torch.sigmoid(self.fc(x)) if self.kind == "sigmoid" else self.fc(x)
        if self.kind == "no_lif":
            return (drive > 0.5).to(x.dtype), torch.tanh(v)
        h = 0.5 * v + drive
        s = (h > 0.5).to(h.dtype)
        if self.kind == "no_next":
            return (s,)
        return s, (h * 0.5 if self.kind == "bad_reset" else h * (1 - s))


@pytest.mark.parametrize(("kind", "expected"), [
    ("sigmoid", "ONNX node `/Sigmoid` (ai.onnx.Sigmoid): operator not supported"),
    ("no_lif", "state input `state:lif` is not the v of any LIF pattern"),
    ("bad_reset", "(ai.onnx.Mul): next state of LIF `lif` is not h·(1 − s), h − θ·s or h"),
    ("no_next", "no graph output `state_next:lif` returns its next state"),
])
def test_unreadable_models_name_the_node(kind: str, expected: str) -> None:
    outputs = ["lif"] + ([] if kind == "no_next" else ["state_next:lif"])
    model = export(Bad(kind).eval(), (torch.zeros(2, 6), torch.zeros(2, 5)), ["x:in", "state:lif"], outputs)
    with pytest.raises(CompileError) as info:
        read_onnx(model)
    assert set(info.value.codes) == {"SNC951"}
    assert expected in str(info.value)
    assert all(d.hint for d in info.value.diagnostics)


def test_every_problem_is_reported() -> None:
    class Two(nn.Module):
        def forward(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
            h = 0.5 * v + torch.tanh(x) + torch.relu(x)
            s = (h > 0.5).to(h.dtype)
            return s, h * (1 - s)

    model = export(Two(), (torch.zeros(2, 6), torch.zeros(2, 6)), ["x:in", "state:lif"], ["lif", "state_next:lif"])
    with pytest.raises(CompileError) as info:
        read_onnx(model)
    text = str(info.value)
    assert "ai.onnx.Tanh" in text and "ai.onnx.Relu" in text and len(info.value.diagnostics) == 2
