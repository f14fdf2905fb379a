"""norse models (LIF, LIFCell and LIFBoxCell with their parameters) compile, spike for spike in float64."""

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
from snncompile.targets import TARGETS
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.verification.compare import simulate_with_margin

norse = pytest.importorskip("norse.torch", reason="norse is not installed")
from norse.torch.functional.lif import LIFParameters  # noqa: E402
from norse.torch.functional.lif_box import LIFBoxParameters  # noqa: E402
from norse.torch.functional.reset import reset_subtract  # noqa: E402

T, B = 12, 3
NEURONS = (norse.LIF, norse.LIFCell, norse.LIFBoxCell)


def randomize(model: nn.Module, seed: int, gain: float = 2.0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    model.double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = gain * math.sqrt(3.0 / m.weight[0].numel())
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=gen, dtype=torch.float64) * 0.4 - 0.1)
    return model.eval()


def currents(shape: tuple[int, ...], seed: int, scale: float = 3.0, offset: float = 0.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return offset + scale * torch.rand((T, B, *shape), generator=gen, dtype=torch.float64)


def record(model: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Spikes of every norse neuron as [T, B, ...]: one sequence call (LIF) or T cell calls stacked."""
    calls: dict[str, list[torch.Tensor]] = defaultdict(list)
    hooks = [m.register_forward_hook(lambda _m, _i, out, p=p: calls[p].append(out[0].detach().clone()))
             for p, m in model.named_modules() if isinstance(m, NEURONS)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return {p: (v[0] if len(v) == 1 else torch.stack(v)).numpy() for p, v in calls.items()}


def assert_reproduces(model: nn.Module, x: torch.Tensor, input_shape: tuple[int, ...],
                      min_rate: float = 0.02, max_rate: float = 0.9) -> ir.Graph:
    recorded = record(model, x)
    assert recorded, "the model has no neuron modules"
    graph = snncompile.trace(model, input_shape=input_shape, timesteps=T)
    result, margin = simulate_with_margin(graph, x)
    for origin, spikes in recorded.items():
        nodes = [n for n in graph.nodes if n.origin == origin and isinstance(n, (ir.LIF, LIFExt))]
        assert nodes, f"no IR neuron for `{origin}`"
        mismatches = int(np.sum(result[nodes[-1].name] != spikes))
        assert mismatches == 0, f"{origin}: {mismatches} of {spikes.size} spike decisions differ"
        rate = float(spikes.mean())
        assert min_rate <= rate <= max_rate, f"{origin}: firing rate {rate:.3f} makes the test trivial"
    assert margin > 1e-9, "a spike decision was a float near-tie; re-draw the test"
    return graph


class MixedNet(nn.Module):
    """LIF (sequence), a residual add, Lift(LIFBoxCell), Lift(SequentialState(Linear, LIFCell))."""

    def __init__(self, lif_p: LIFParameters, box_p: LIFBoxParameters, cell_p: LIFParameters, dt: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 30)
        self.lif1 = norse.LIF(lif_p, dt=dt)
        self.fc2 = norse.Lift(nn.Linear(30, 30))
        self.box = norse.Lift(norse.LIFBoxCell(box_p, dt=dt))
        self.seq = norse.Lift(norse.SequentialState(nn.Linear(30, 10), norse.LIFCell(cell_p, dt=dt)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self.lif1(self.fc1(x))
        z2, _ = self.box(self.fc2(z) + z)
        z3, _ = self.seq(z2)
        return z3


PARAMETERS = {
    "defaults": (LIFParameters(v_th=torch.tensor(0.3)), LIFBoxParameters(v_th=torch.tensor(0.3)),
                 LIFParameters(v_th=torch.tensor(0.05)), 1e-3, 0.0, 3.0),
    "time-constants-dt": (LIFParameters(tau_mem_inv=torch.tensor(250.0), tau_syn_inv=torch.tensor(400.0),
                                        v_th=torch.tensor(0.25)),
                          LIFBoxParameters(tau_mem_inv=torch.tensor(300.0), v_th=torch.tensor(0.2),
                                           reset_method=reset_subtract),
                          LIFParameters(tau_mem_inv=torch.tensor(150.0), v_th=torch.linspace(0.05, 0.3, 10)),
                          5e-4, 0.0, 6.0),
    "bio-leak-equals-reset": (LIFParameters(tau_mem_inv=torch.tensor(100.0), v_leak=torch.tensor(-65.0),
                                            v_reset=torch.tensor(-65.0), v_th=torch.tensor(-64.7)),
                              LIFBoxParameters(v_leak=torch.tensor(-1.0), v_reset=torch.tensor(-1.0),
                                               v_th=torch.tensor(-0.7)),
                              LIFParameters(v_leak=torch.tensor(0.5), v_reset=torch.tensor(0.5),
                                            v_th=torch.tensor(0.55)), 1e-3, 0.0, 3.0),
}


@pytest.mark.parametrize("setting", sorted(PARAMETERS))
def test_norse_neurons_reproduce_library(setting: str) -> None:
    lif_p, box_p, cell_p, dt, offset, scale = PARAMETERS[setting]
    model = randomize(MixedNet(lif_p, box_p, cell_p, dt), seed=1)
    graph = assert_reproduces(model, currents((20,), seed=2, scale=scale, offset=offset), (20,))
    assert len(graph.of_kind(ir.Add)) == 1
    assert {n.comparison for n in graph.nodes if isinstance(n, (ir.LIF, LIFExt))} == {">"}


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = norse.SequentialState(
            norse.Lift(nn.Conv2d(2, 6, 3, padding=1)), norse.LIF(LIFParameters(v_th=torch.tensor(0.2))),
            norse.Lift(nn.MaxPool2d(2)), norse.Lift(nn.Flatten()), norse.Lift(nn.Linear(6 * 4 * 4, 10)),
            norse.LIF(LIFParameters(v_th=torch.tensor(0.1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]


def test_sequential_state_conv_net_reproduces_library() -> None:
    model = randomize(ConvNet(), seed=3)
    graph = assert_reproduces(model, currents((2, 8, 8), seed=4, scale=4.0), (2, 8, 8))
    assert [n.kind for n in graph.nodes if isinstance(n, (ir.LIF, LIFExt))] == ["lif_ext", "lif_ext"]


# ---------------------------------------------------------------------------------------------------------
# refusals


def _refusal(model: nn.Module, shape: tuple[int, ...] = (20,)) -> CompileError:
    with pytest.raises(CompileError) as info:
        snncompile.trace(model, input_shape=shape, timesteps=T)
    return info.value


class Wrap(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[0]


def test_leak_different_from_reset_is_refused() -> None:
    err = _refusal(Wrap(norse.LIF(LIFParameters(v_leak=torch.tensor(0.2)))))
    diag = err.diagnostics[0]
    assert diag.code == "SNC701" and diag.origin == "body" and "v_leak" in diag.message
    assert "norse.torch.module.lif.LIF" in diag.message and diag.hint


def test_cell_at_sequence_level_is_refused() -> None:
    err = _refusal(Wrap(norse.SequentialState(norse.Lift(nn.Linear(20, 8)), norse.LIFCell())))
    assert err.codes == ["SNC702"] and err.diagnostics[0].origin == "body.1"
    assert "Lift" in (err.diagnostics[0].hint or "")


def test_cell_without_threaded_state_is_refused() -> None:
    err = _refusal(Wrap(norse.Lift(nn.Sequential(nn.Linear(20, 8), norse.LIFCell()))), shape=(20,))
    assert err.codes == ["SNC702"] and err.diagnostics[0].origin == "body.lifted_module.1"


def test_subtract_reset_with_leak_is_refused() -> None:
    cell = norse.LIFBoxCell(LIFBoxParameters(v_leak=torch.tensor(0.1), reset_method=reset_subtract))
    err = _refusal(Wrap(norse.Lift(cell)))
    assert err.codes == ["SNC701"] and "reset_subtract" in err.diagnostics[0].message


def test_unsupported_norse_module_names_path_class_and_hint() -> None:
    diag = _refusal(Wrap(norse.LIFRecurrent(20, 8))).diagnostics[0]
    assert diag.code == "SNC700" and diag.origin == "body" and "LIFRecurrent" in diag.message
    assert "LIFBoxCell" in (diag.hint or "") and "register_converter" in (diag.hint or "")


# ---------------------------------------------------------------------------------------------------------
# loading (norse modules do not pickle whole: their parameter tuples are not importable) and loihi


def test_state_dict_with_factory_loads(tmp_path, monkeypatch) -> None:
    (tmp_path / "norse_factory_models.py").write_text(textwrap.dedent("""
        import torch
        import norse.torch as norse
        from norse.torch.functional.lif import LIFParameters
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(20, 10)
                self.lif = norse.LIF(LIFParameters(v_th=torch.tensor(0.2)))

            def forward(self, x):
                return self.lif(self.fc(x))[0]

        def build():
            return Net().double()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    from norse_factory_models import build  # type: ignore[import-not-found]

    model = randomize(build(), seed=5)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    loaded = load_model(tmp_path / "weights.pt", factory="norse_factory_models:build")
    assert_reproduces(loaded, currents((20,), seed=6), (20,))
    sys.modules.pop("norse_factory_models", None)


class BoxNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = norse.Lift(nn.Linear(20, 24)), norse.Lift(nn.Linear(24, 8))
        self.box1 = norse.Lift(norse.LIFBoxCell(LIFBoxParameters(v_th=torch.tensor(0.3))))
        self.box2 = norse.Lift(norse.LIFBoxCell(LIFBoxParameters(v_th=torch.tensor(0.2))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self.box1(self.fc1(x))
        z, _ = self.box2(self.fc2(z))
        return z


def test_lif_box_network_compiles_for_loihi() -> None:
    if "loihi" not in TARGETS:
        pytest.skip("the loihi target is not registered yet")
    from snncompile.targets.loihi.numerics import simulate_loihi

    model = randomize(BoxNet(), seed=7)
    x = currents((20,), seed=8)
    assert_reproduces(model, x, (20,))
    result = snncompile.compile(model, "loihi", input_shape=(20,), timesteps=T)
    # norse's decay 1 − dt·τ⁻¹ = 0.9 has no 12-bit vDecay: the compiler must say so (SNC620), and 8-bit
    # weights on an analog input add rounding; the integer arithmetic itself is proven exact against Lava
    fixed = simulate_loihi(result.graph, x, pipelined=False)
    reference = snncompile.simulate(result.traced, x)
    agreement = {n: float(np.mean(fixed[n] == reference[n])) for n in ("box1.lifted_module", "box2.lifted_module")}
    assert "SNC620" in [d.code for d in result.diagnostics], "inexact decay must be reported"
    assert min(agreement.values()) > 0.75, agreement


class CubaNet(nn.Module):
    """norse's current-based LIF behind bias-free synapses: Loihi's own neuron model."""

    def __init__(self, bias: bool = False) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(20, 24, bias=bias), nn.Linear(24, 8, bias=bias)
        self.lif1 = norse.LIF(LIFParameters(v_th=torch.tensor(0.15)))
        self.lif2 = norse.LIF(LIFParameters(v_th=torch.tensor(0.1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self.lif1(self.fc1(x))
        z, _ = self.lif2(self.fc2(z))
        return z


def test_current_based_lif_network_compiles_for_loihi() -> None:
    from snncompile.targets.loihi.numerics import simulate_loihi

    model = randomize(CubaNet(), seed=9)
    x = currents((20,), seed=10)
    assert_reproduces(model, x, (20,))
    result = snncompile.compile(model, "loihi", input_shape=(20,), timesteps=T)
    pops = result.graph.of_kind(LoihiLIF)
    # norse's defaults: a_s = 1e-3 · 200 = 0.2 (syn_decay 0.8: iDecay 819.2), a_m = 0.1 (vDecay 409.6)
    assert {p.i_decay for p in pops} == {819} and {p.v_decay for p in pops} == {410}
    codes = [d.code for d in result.diagnostics]
    assert codes.count("SNC620") == 4, "both inexact decays of both layers must be reported"
    fixed = simulate_loihi(result.graph, x, pipelined=False)
    reference = snncompile.simulate(result.traced, x)
    agreement = {n: float(np.mean(fixed[n] == reference[n])) for n in ("lif1", "lif2")}
    assert min(agreement.values()) > 0.75, agreement
    assert all(0.02 < reference[n].mean() < 0.98 for n in ("lif1", "lif2"))


def test_biased_synapse_into_a_current_is_refused_for_loihi() -> None:
    model = randomize(CubaNet(bias=True), seed=9)
    with pytest.raises(CompileError) as info:
        snncompile.compile(model, "loihi", input_shape=(20,), timesteps=T)
    found = [d for d in info.value.diagnostics if d.code == "SNC610"]
    assert {d.node for d in found} == {"lif1", "lif2"} and all("bias=False" in (d.hint or "") for d in found)
