"""snntorch models (Leaky, Synaptic, every reset mechanism) compile through TimeLoop, spike for spike.

snntorch's surrogates return float32 spikes whatever the membrane dtype, so a layer after a neuron cannot run
in float64: these models run in float32, and so does the reference simulator (same operation order, so the
spikes agree bit for bit; a margin check rejects decisions that a different BLAS rounding could flip).
"""

from __future__ import annotations

import math
import sys
import textwrap
from collections import defaultdict

import numpy as np
import pytest
import torch
from torch import nn

import snncompile
from snncompile import ir
from snncompile.errors import CompileError
from snncompile.frontend.pytorch.load import load_model
from snncompile.ir.ops_ext import LIFExt
from snncompile.sim import simulate
from snncompile.sim.float_ops import MARGINS
from snncompile.targets import TARGETS
from snncompile.targets.loihi.ops import LoihiLIF

snn = pytest.importorskip("snntorch", reason="snntorch is not installed")
from snncompile.frontend.libraries.snntorch import TimeLoop  # noqa: E402

T, B = 10, 3


def randomize(model: nn.Module, seed: int, gain: float = 2.0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = gain * math.sqrt(3.0 / m.weight[0].numel())
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.4 - 0.1)
    return model.eval()


def currents(shape: tuple[int, ...], seed: int, scale: float = 1.5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.rand((T, B, *shape), generator=gen)


def record(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    calls: dict[str, list[torch.Tensor]] = defaultdict(list)

    def hook(_m: nn.Module, _i: object, out: object, path: str) -> None:
        calls[path].append((out[0] if isinstance(out, tuple) else out).detach().clone())  # type: ignore[index]

    hooks = [m.register_forward_hook(lambda m, i, o, p=p: hook(m, i, o, p))
             for p, m in model.named_modules() if isinstance(m, snn.SpikingNeuron)]
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in hooks:
            h.remove()
    return {p: torch.stack(v).numpy() for p, v in calls.items()}, y


def simulate_float32(graph: ir.Graph, x: torch.Tensor) -> tuple[dict[str, np.ndarray], float]:
    margins: dict[str, float] = {}
    token = MARGINS.set(margins)
    try:
        result = simulate(graph, x, dtype=torch.float32)
    finally:
        MARGINS.reset(token)
    return result.values, min(margins.values(), default=math.inf)


def neuron_node(graph: ir.Graph, origin: str) -> ir.Op:
    nodes = [n for n in graph.nodes if n.origin == origin and isinstance(n, (ir.LIF, LIFExt))]
    assert nodes, f"no IR neuron for `{origin}`"
    return nodes[-1]


def assert_reproduces(model: nn.Module, x: torch.Tensor, input_shape: tuple[int, ...],
                      min_rate: float = 0.02, max_rate: float = 0.9) -> ir.Graph:
    recorded, y = record(model, x)
    assert recorded, "the model has no neuron modules"
    graph = snncompile.trace(model, input_shape=input_shape, timesteps=T)
    values, margin = simulate_float32(graph, x)
    for origin, spikes in recorded.items():
        got = values[neuron_node(graph, origin).name]
        mismatches = int(np.sum(got != spikes))
        assert mismatches == 0, f"{origin}: {mismatches} of {spikes.size} spike decisions differ"
        rate = float(spikes.mean())
        assert min_rate <= rate <= max_rate, f"{origin}: firing rate {rate:.3f} makes the test trivial"
    assert np.array_equal(values[graph.outputs[0]], y.numpy())
    assert margin > 1e-5, "a spike decision was within float32 rounding of its threshold; re-draw"
    return graph


# ---------------------------------------------------------------------------------------------------------
# every reset mechanism and timing, Leaky and Synaptic, in a conv net


RESETS = {
    "subtract-delayed (default)": {},
    "subtract-immediate": {"reset_delay": False},
    "zero-delayed": {"reset_mechanism": "zero"},
    "zero-immediate": {"reset_mechanism": "zero", "reset_delay": False},
    "none": {"reset_mechanism": "none"},
}


def conv_net(**kw: object) -> nn.Module:
    return TimeLoop(nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), snn.Leaky(beta=0.8, init_hidden=True, **kw), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), snn.Synaptic(alpha=0.6, beta=0.85, threshold=0.8, init_hidden=True, **kw),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 10),
        snn.Leaky(beta=torch.linspace(0.5, 0.95, 10), threshold=torch.linspace(0.7, 1.2, 10), init_hidden=True,
                  output=True, **kw)))


@pytest.mark.parametrize("reset", sorted(RESETS))
def test_reset_mechanisms_reproduce_library(reset: str) -> None:
    model = randomize(conv_net(**RESETS[reset]), seed=1)
    graph = assert_reproduces(model, currents((2, 8, 8), seed=2), (2, 8, 8))
    assert {n.comparison for n in graph.nodes if isinstance(n, (ir.LIF, LIFExt))} == {">"}


def test_delayed_subtraction_is_not_an_immediate_reset() -> None:
    """The op choice matters: the default snntorch reset replayed as ir.LIF 'subtract' gives other spikes."""
    model = randomize(conv_net(), seed=1)
    x = currents((2, 8, 8), seed=2)
    recorded, _ = record(model, x)
    graph = snncompile.trace(model, input_shape=(2, 8, 8), timesteps=T)
    node = neuron_node(graph, "net.1")
    assert isinstance(node, LIFExt) and node.reset_timing == "delayed"
    wrong = ir.LIF(name=node.name, inputs=node.inputs, origin=node.origin, decay=node.decay,
                   threshold=node.threshold[None], comparison=">", reset="subtract")
    values, _ = simulate_float32(graph.with_nodes([wrong if n is node else n for n in graph.nodes]), x)
    assert int(np.sum(values[node.name] != recorded["net.1"])) > 0


class ResidualStep(nn.Module):
    """One timestep: a Leaky without init_hidden (returns spk, mem), a residual add, a Synaptic readout."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 24)
        self.lif1 = snn.Leaky(beta=0.9)
        self.fc2 = nn.Linear(24, 24)
        self.skip = nn.Linear(16, 24, bias=False)
        self.lif2 = snn.Leaky(beta=0.7, init_hidden=True, reset_mechanism="zero")
        self.fc3 = nn.Linear(24, 8)
        self.lif3 = snn.Synaptic(alpha=0.5, beta=0.9, init_hidden=True, output=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        spk1, _ = self.lif1(self.fc1(x))
        spk2 = self.lif2(self.fc2(spk1) + self.skip(x))
        return self.lif3(self.fc3(spk2))


def test_mixed_residual_model_reproduces_library() -> None:
    model = randomize(TimeLoop(ResidualStep()), seed=3)
    graph = assert_reproduces(model, currents((16,), seed=4), (16,))
    assert len(graph.of_kind(ir.Add)) == 1


# ---------------------------------------------------------------------------------------------------------
# refusals


def _refusal(model: nn.Module, shape: tuple[int, ...] = (16,)) -> CompileError:
    with pytest.raises(CompileError) as info:
        snncompile.trace(model, input_shape=shape, timesteps=T)
    return info.value


def test_neuron_outside_time_loop_is_refused() -> None:
    diag = _refusal(nn.Sequential(nn.Linear(16, 8), snn.Leaky(beta=0.9, init_hidden=True))).diagnostics[0]
    assert diag.code == "SNC702" and diag.origin == "1" and "snntorch._neurons.leaky.Leaky" in diag.message
    assert "TimeLoop" in (diag.hint or "")


def test_unsupported_snntorch_neuron_names_path_class_and_hint() -> None:
    model = TimeLoop(nn.Sequential(nn.Linear(16, 8), snn.RLeaky(beta=0.9, linear_features=8, init_hidden=True)))
    diag = _refusal(model).diagnostics[0]
    assert diag.code == "SNC700" and diag.origin == "net.1" and "RLeaky" in diag.message
    assert "Leaky" in (diag.hint or "") and "register_converter" in (diag.hint or "")


@pytest.mark.parametrize(("kw", "words"), [({"inhibition": True}, "inhibition"),
                                           ({"graded_spikes_factor": 2.0}, "graded"),
                                           ({"reset_mechanism": "zero", "reset_delay": False, "threshold": -0.5},
                                            "negative threshold")])
def test_unsupported_settings_are_refused(kw: dict[str, object], words: str) -> None:
    with pytest.warns(UserWarning) if kw.get("inhibition") else _nothing():
        neuron = snn.Leaky(beta=0.9, init_hidden=True, **kw)
    err = _refusal(TimeLoop(nn.Sequential(nn.Linear(16, 8), neuron)))
    assert err.codes == ["SNC701"] and words in err.diagnostics[0].message and err.diagnostics[0].origin == "net.1"


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def test_neuron_state_read_out_is_refused() -> None:
    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 8)
            self.lif = snn.Leaky(beta=0.9)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            spk, mem = self.lif(self.fc(x))
            return spk + mem

    err = _refusal(TimeLoop(Step()))
    assert err.codes == ["SNC101"] and "output [1]" in err.diagnostics[0].message


# ---------------------------------------------------------------------------------------------------------
# loading: snntorch modules do not pickle (their surrogates are closures), so state_dict + factory


def test_state_dict_with_factory_loads(tmp_path, monkeypatch) -> None:
    (tmp_path / "snt_factory_models.py").write_text(textwrap.dedent("""
        import snntorch as snn
        from torch import nn
        from snncompile.frontend.libraries.snntorch import TimeLoop

        def build():
            return TimeLoop(nn.Sequential(nn.Linear(16, 12), snn.Leaky(beta=0.8, init_hidden=True),
                                          nn.Linear(12, 6), snn.Synaptic(alpha=0.5, beta=0.9, init_hidden=True)))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    from snt_factory_models import build  # type: ignore[import-not-found]

    model = randomize(build(), seed=5)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    loaded = load_model(tmp_path / "weights.pt", factory="snt_factory_models:build")
    x = currents((16,), seed=6)
    assert_reproduces(loaded, x, (16,))
    assert all(np.array_equal(a, b) for a, b in zip(record(model, x)[0].values(), record(loaded, x)[0].values(),
                                                    strict=True))
    sys.modules.pop("snt_factory_models", None)


def test_time_loop_is_on_the_safe_loading_allowlist() -> None:
    from snncompile.frontend.pytorch.load import safe_classes

    names = safe_classes()
    assert "snncompile.frontend.libraries.snntorch.TimeLoop" in names and "snntorch._neurons.leaky.Leaky" in names


# ---------------------------------------------------------------------------------------------------------
# loihi


def test_zero_reset_leaky_network_compiles_for_loihi() -> None:
    if "loihi" not in TARGETS:
        pytest.skip("the loihi target is not registered yet")

    model = randomize(TimeLoop(nn.Sequential(nn.Linear(16, 24), snn.Leaky(beta=0.75, init_hidden=True,
                                                                           reset_mechanism="zero"),
                                             nn.Linear(24, 8), snn.Leaky(beta=0.5, init_hidden=True,
                                                                         reset_mechanism="zero"))), seed=7)
    x = currents((16,), seed=8)
    assert_reproduces(model, x, (16,))
    result = snncompile.compile(model, "loihi", input_shape=(16,), timesteps=T)
    # 8-bit weights and a quantized analog input cannot reproduce arbitrary float weights exactly; the
    # integer network must still agree with the float IR on most decisions (measured: 85-95 %); the
    # integer arithmetic itself is proven exact by the Lava-vs-simulator tests
    from snncompile.targets.loihi.numerics import simulate_loihi

    fixed = simulate_loihi(result.graph, x, pipelined=False)
    reference = snncompile.simulate(result.traced, x)
    for name in ("net.1", "net.3"):
        agreement = float(np.mean(fixed[name] == reference[name]))
        assert agreement > 0.8, f"{name}: only {agreement:.1%} of spike decisions agree after quantization"


def test_delayed_subtract_reset_is_refused_by_loihi_with_a_diagnostic() -> None:
    if "loihi" not in TARGETS:
        pytest.skip("the loihi target is not registered yet")
    model = randomize(TimeLoop(nn.Sequential(nn.Linear(16, 8), snn.Leaky(beta=0.75, init_hidden=True))), seed=7)
    with pytest.raises(CompileError) as info:
        snncompile.compile(model, "loihi", input_shape=(16,), timesteps=T)
    assert any(d.origin == "net.1" for d in info.value.diagnostics)


def test_synaptic_with_immediate_zero_reset_compiles_for_loihi() -> None:
    from snncompile.targets.loihi.numerics import simulate_loihi

    def synaptic() -> snn.Synaptic:
        return snn.Synaptic(alpha=0.5, beta=0.75, init_hidden=True, reset_mechanism="zero", reset_delay=False)

    model = randomize(TimeLoop(nn.Sequential(nn.Linear(16, 24, bias=False), synaptic(),
                                             nn.Linear(24, 8, bias=False), synaptic())), seed=7)
    x = currents((16,), seed=8)
    assert_reproduces(model, x, (16,))
    result = snncompile.compile(model, "loihi", input_shape=(16,), timesteps=T)
    pops = result.graph.of_kind(LoihiLIF)
    assert {(p.i_decay, p.v_decay) for p in pops} == {(2048, 1024)}  # α, β exact in 12 bits: no SNC620
    assert "SNC620" not in [d.code for d in result.diagnostics]
    fixed = simulate_loihi(result.graph, x, pipelined=False)
    reference = snncompile.simulate(result.traced, x)
    for name in ("net.1", "net.3"):
        agreement = float(np.mean(fixed[name] == reference[name]))
        assert agreement > 0.8, f"{name}: only {agreement:.1%} of spike decisions agree after quantization"


def test_synaptic_with_delayed_reset_is_refused_by_loihi_with_the_retraining_hint() -> None:
    model = randomize(TimeLoop(nn.Sequential(nn.Linear(16, 8, bias=False),
                                             snn.Synaptic(alpha=0.5, beta=0.75, init_hidden=True,
                                                          reset_mechanism="zero"))), seed=7)
    with pytest.raises(CompileError) as info:
        snncompile.compile(model, "loihi", input_shape=(16,), timesteps=T)
    (d,) = info.value.diagnostics
    assert d.code == "SNC610" and d.origin == "net.1" and "reset_delay=False" in (d.hint or "")
