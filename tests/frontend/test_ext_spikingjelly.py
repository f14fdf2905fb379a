"""spikingjelly models compile, and the float IR reproduces the library's forward pass at every neuron layer."""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

import snncompile
from snncompile import ir
from snncompile.errors import CompileError
from snncompile.ir.ops_ext import LIFExt
from snncompile.targets import TARGETS
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.verification.compare import simulate_with_margin

sj = pytest.importorskip("spikingjelly.activation_based", reason="spikingjelly is not installed")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402
from spikingjelly.activation_based.neuron.mpbn import MPBNLIFNode  # noqa: E402

T, B = 8, 3
NEURONS = (neuron.BaseNode,)


# ---------------------------------------------------------------------------------------------------------
# helpers


def randomize(model: nn.Module, seed: int, gain: float = 1.5, mixed_gamma: bool = True,
              calibrate: torch.Tensor | None = None) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)

    def uniform(like: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(like.shape, generator=gen, dtype=torch.float64)

    model.double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = gain * math.sqrt(3.0 / m.weight[0].numel())
                m.weight.copy_(uniform(m.weight, -bound, bound))
                if m.bias is not None:
                    m.bias.copy_(uniform(m.bias, -0.1, 0.3))
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen, dtype=torch.float64))
                m.running_var.copy_(uniform(m.running_var, 0.5, 1.5))
                sign = torch.where(torch.rand(m.weight.shape, generator=gen) < (0.25 if mixed_gamma else 0), -1.0, 1.0)
                m.weight.copy_(sign.double() * uniform(m.weight, 0.5, 1.5))
                m.bias.copy_(uniform(m.bias, -0.2, 0.3))
    if calibrate is not None:  # running statistics of the data, so deep layers still fire
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.momentum = 1.0
        functional.reset_net(model)
        with torch.no_grad():
            model.train()(calibrate)
        for m in norms:
            m.momentum = 0.1
            m.running_var.mul_(uniform(m.running_var, 0.8, 1.25))
        functional.reset_net(model.eval())
    return model


def record(model: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Every library neuron's spikes as [T, B, ...]: one multi-step call, or T single-step calls stacked."""
    calls: dict[str, list[torch.Tensor]] = defaultdict(list)
    hooks = [m.register_forward_hook(lambda _m, _i, out, p=p: calls[p].append(out.detach().clone()))
             for p, m in model.named_modules() if isinstance(m, NEURONS)]
    functional.reset_net(model)
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        functional.reset_net(model)
    return {p: (v[0] if len(v) == 1 else torch.stack(v)).numpy() for p, v in calls.items()}


def neuron_node(graph: ir.Graph, origin: str) -> ir.Op:
    nodes = [n for n in graph.nodes if n.origin == origin and isinstance(n, (ir.LIF, LIFExt))]
    assert nodes, f"no IR neuron for `{origin}`"
    return nodes[-1]


def assert_reproduces(model: nn.Module, x: torch.Tensor, input_shape: tuple[int, ...],
                      min_rate: float = 0.02, max_rate: float = 0.9) -> ir.Graph:
    """Trace, simulate in float64 and compare spikes at every neuron layer (and check the test is not trivial)."""
    recorded = record(model, x)
    assert recorded, "the model has no neuron modules"
    graph = snncompile.trace(model, input_shape=input_shape, timesteps=x.shape[0])
    result, margin = simulate_with_margin(graph, x)
    for origin, spikes in recorded.items():
        got = result[neuron_node(graph, origin).name]
        assert got.shape == spikes.shape, origin
        mismatches = int(np.sum(got != spikes))
        assert mismatches == 0, f"{origin}: {mismatches} of {spikes.size} spike decisions differ"
        rate = float(spikes.mean())
        assert min_rate <= rate <= max_rate, f"{origin}: firing rate {rate:.3f} makes the test trivial"
    assert margin > 1e-9, "a spike decision was a float near-tie; re-draw the test"
    return graph


def currents(shape: tuple[int, ...], seed: int, scale: float = 1.5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.rand((T, B, *shape), generator=gen, dtype=torch.float64)


def loihi_refuses_non_strict(model: nn.Module, x: torch.Tensor, input_shape: tuple[int, ...]) -> None:
    """spikingjelly fires on v ≥ V_th; on Loihi's truncating integer membrane a leaky neuron has no exact
    encoding of a non-strict threshold (docs/FOLDING.md §9), so compile(model, "loihi") must refuse it at
    every leaky neuron, naming the module, instead of approximating (IFNode, without leak, keeps v on the
    64-grid where v ≥ 64·vth ⟺ v > 64·(vth − 1), and compiles)."""
    if "loihi" not in TARGETS:
        pytest.skip("the loihi target is not registered yet (snncompile.targets has: "
                    + ", ".join(sorted(TARGETS)) + ")")
    neurons = {p for p, m in model.named_modules() if isinstance(m, NEURONS) and not isinstance(m, neuron.IFNode)}
    with pytest.raises(CompileError) as info:
        snncompile.compile(model, "loihi", input_shape=input_shape, timesteps=x.shape[0])
    refused = {d.origin for d in info.value.diagnostics if d.code == "SNC611"}
    assert refused == neurons, info.value


# ---------------------------------------------------------------------------------------------------------
# models


def cnn(neuron_a: nn.Module, neuron_b: nn.Module, neuron_c: nn.Module) -> nn.Module:
    return nn.Sequential(
        layer.Conv2d(2, 6, 3, padding=1, step_mode="m"), layer.BatchNorm2d(6, step_mode="m"), neuron_a,
        layer.SeqToANNContainer(nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)), neuron_b,
        layer.MaxPool2d(2, step_mode="m"), layer.AvgPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(6 * 2 * 2, 12), neuron_c)


NEURON_SETTINGS = {
    "lif-hard-decay-input": lambda: neuron.LIFNode(tau=2.0, step_mode="m"),
    "lif-soft-no-decay-input": lambda: neuron.LIFNode(tau=3.0, decay_input=False, v_reset=None, step_mode="m"),
    "lif-vreset": lambda: neuron.LIFNode(tau=1.5, v_reset=-0.3, v_threshold=0.8, step_mode="m"),
    "if-hard": lambda: neuron.IFNode(step_mode="m"),
    "if-soft": lambda: neuron.IFNode(v_reset=None, v_threshold=1.2, step_mode="m"),
    "plif-hard": lambda: neuron.ParametricLIFNode(init_tau=2.5, step_mode="m"),
    "plif-soft-no-decay-input": lambda: neuron.ParametricLIFNode(init_tau=4.0, decay_input=False, v_reset=None,
                                                                  step_mode="m"),
}


@pytest.mark.parametrize("setting", sorted(NEURON_SETTINGS))
def test_multi_step_neurons_reproduce_library(setting: str) -> None:
    make = NEURON_SETTINGS[setting]
    model = randomize(cnn(make(), make(), make()), seed=1, gain=2.0)
    graph = assert_reproduces(model, currents((2, 8, 8), seed=2), (2, 8, 8))
    assert {n.comparison for n in graph.of_kind(ir.LIF)} == {">="}  # spikingjelly fires at v == V_th


def test_plif_learned_decay_is_read_from_w() -> None:
    model = randomize(cnn(*(neuron.ParametricLIFNode(step_mode="m") for _ in range(3))), seed=1, gain=2.0)
    with torch.no_grad():
        for i, m in enumerate(n for n in model.modules() if isinstance(n, neuron.ParametricLIFNode)):
            m.w.fill_(0.5 * i)  # 1/τ = sigmoid(w): three different learned decays
    graph = assert_reproduces(model, currents((2, 8, 8), seed=4), (2, 8, 8))
    decays = sorted({float(n.decay.flat[0]) for n in graph.of_kind(ir.LIF)})
    assert np.allclose(decays, sorted(1 - 1 / (1 + np.exp(-w)) for w in (0.0, 0.5, 1.0)))


class BasicBlock(nn.Module):
    """tdBN spiking ResNet block: LIF(tdBN(conv(LIF(tdBN(conv x)))) + shortcut(x)), α = 1/√2 before the add."""

    def __init__(self, cin: int, cout: int, stride: int, node: Callable[[], nn.Module]) -> None:
        super().__init__()
        alpha = 1 / math.sqrt(2)
        self.conv1 = layer.SeqToANNContainer(nn.Conv2d(cin, cout, 3, stride, 1, bias=False))
        self.bn1 = layer.ThresholdDependentBatchNorm2d(alpha=1.0, v_th=1.0, num_features=cout)
        self.sn1 = node()
        self.conv2 = layer.Conv2d(cout, cout, 3, 1, 1, bias=False, step_mode="m")
        self.bn2 = layer.ThresholdDependentBatchNorm2d(alpha=alpha, v_th=1.0, num_features=cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                layer.SeqToANNContainer(nn.Conv2d(cin, cout, 1, stride, bias=False)),
                layer.ThresholdDependentBatchNorm2d(alpha=alpha, v_th=1.0, num_features=cout))
        self.sn2 = node()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.sn1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.sn2(out + self.shortcut(x))


def lif() -> nn.Module:
    return neuron.LIFNode(tau=2.0, step_mode="m")


class TdBNResNet(nn.Module):
    def __init__(self, node: Callable[[], nn.Module] = lif) -> None:
        super().__init__()
        self.stem = layer.SeqToANNContainer(nn.Conv2d(2, 8, 3, padding=1, bias=False))
        self.stem_bn = layer.ThresholdDependentBatchNorm2d(alpha=1.0, v_th=1.0, num_features=8)
        self.stem_sn = node()
        self.block1 = BasicBlock(8, 8, 1, node)
        self.block2 = BasicBlock(8, 12, 2, node)
        self.flat = layer.Flatten(step_mode="m")
        self.fc = layer.Linear(12 * 4 * 4, 10)
        self.out_sn = neuron.IFNode(step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_sn(self.stem_bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.out_sn(self.fc(self.flat(x)))


def test_tdbn_spiking_resnet_reproduces_library() -> None:
    model = randomize(TdBNResNet(), seed=5, gain=2.0, calibrate=currents((2, 8, 8), seed=60))
    graph = assert_reproduces(model, currents((2, 8, 8), seed=6), (2, 8, 8))
    assert len(graph.of_kind(ir.Add)) == 2  # both residual adds are traced
    assert len(graph.of_kind(ir.BatchNorm)) == 6  # tdBN is a plain BN at inference (α·V_th only inits γ)


def test_tdbn_spiking_resnet_on_loihi_is_refused_for_its_non_strict_threshold() -> None:
    model = randomize(TdBNResNet(), seed=5, gain=2.0, calibrate=currents((2, 8, 8), seed=60))
    loihi_refuses_non_strict(model, currents((2, 8, 8), seed=6), (2, 8, 8))


# ---------------------------------------------------------------------------------------------------------
# MPBNLIFNode: unfolded, and folded by the library in both residual modes


class MPBNNet(nn.Module):
    def __init__(self, v_reset: float | None = 0.0, decay_input: bool = False, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        kw = {"tau": 2.0, "v_reset": v_reset, "decay_input": decay_input, "step_mode": "m"}
        self.conv1 = layer.Conv2d(2, 6, 3, padding=1, step_mode="m")
        self.sn1 = MPBNLIFNode(out_channels=6, **kw)
        self.conv2 = layer.Conv2d(6, 6, 3, padding=1, step_mode="m")
        self.sn2 = MPBNLIFNode(out_channels=6, **kw)
        self.flat = layer.Flatten(step_mode="m")
        self.fc = layer.Linear(6 * 4 * 4, 16)
        self.sn3 = MPBNLIFNode(out_features=16, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sn1(self.conv1(x))
        x = self.sn2(self.conv2(x) + x if self.residual else self.conv2(x))  # a residual add into MPBN
        return self.sn3(self.fc(self.flat(x)))


def mpbn_net(v_reset: float | None, decay_input: bool = False, fold: str | None = None, seed: int = 7,
             mixed_gamma: bool = True, residual: bool = True) -> MPBNNet:
    model = randomize(MPBNNet(v_reset, decay_input, residual), seed=seed, gain=2.0, mixed_gamma=mixed_gamma)
    if fold is not None:
        for m in model.modules():
            if isinstance(m, MPBNLIFNode):
                m.re_parameterize_v_threshold(normalize_residual=fold == "normalize_residual")
    return model


@pytest.mark.parametrize(("v_reset", "decay_input"), [(0.0, False), (None, False), (0.1, True), (None, True)])
def test_mpbn_unfolded_decay_fold_is_exact(v_reset: float | None, decay_input: bool) -> None:
    model = mpbn_net(v_reset, decay_input)
    graph = assert_reproduces(model, currents((2, 4, 4), seed=8), (2, 4, 4))
    decays = np.concatenate([n.decay.ravel() for n in graph.of_kind(ir.LIF)])
    assert np.any(decays < 0), "mixed-sign γ must give negative folded decays (any sign is exact)"


@pytest.mark.parametrize("mode", ["normalize_residual", "raw_residual"])
def test_mpbn_folded_by_library_reproduces_library(mode: str) -> None:
    """After re_parameterize_v_threshold the library computes something else than the unfolded node
    (FOLDING.md §4); the compiler reproduces what the module now computes."""
    unfolded = mpbn_net(0.0)
    model = mpbn_net(0.0, fold=mode)
    x = currents((2, 4, 4), seed=8)
    assert_reproduces(model, x, (2, 4, 4))
    differ = sum(int(np.sum(a != b)) for a, b in zip(record(unfolded, x).values(), record(model, x).values(),
                                                      strict=True))
    if mode == "raw_residual":
        assert differ > 0, "the library's own fold without normalize_residual is not the unfolded neuron"


class LearnableVth(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = layer.Conv2d(2, 6, 3, padding=1, step_mode="m")
        self.sn = MPBNLIFNode(out_channels=6, learnable_vth=True, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sn(self.conv(x))


@pytest.mark.parametrize("fold", [False, True])
def test_mpbn_learnable_threshold_reproduces_library(fold: bool) -> None:
    model = randomize(LearnableVth(), seed=3, gain=2.0)
    with torch.no_grad():
        model.sn.a.copy_(torch.linspace(-0.5, 0.5, 6))  # V_th = exp(a) per channel
    if fold:
        model.sn.re_parameterize_v_threshold(normalize_residual=True)  # v_threshold becomes a [C] tensor
    assert_reproduces(model, currents((2, 4, 4), seed=4), (2, 4, 4))


@pytest.mark.parametrize("mode", ["normalize_residual", "raw_residual"])
def test_mpbn_folded_soft_reset_is_refused(mode: str) -> None:
    model = mpbn_net(None, fold=mode)
    with pytest.raises(CompileError) as info:
        snncompile.trace(model, input_shape=(2, 4, 4), timesteps=T)
    diag = info.value.diagnostics[0]
    assert diag.code == "SNC701" and diag.origin == "sn1" and "MPBNLIFNode" in diag.message and diag.hint


def test_mpbn_network_on_loihi_is_refused_for_its_non_strict_threshold() -> None:
    model = mpbn_net(0.0, seed=9, mixed_gamma=False, residual=False)
    loihi_refuses_non_strict(model, currents((2, 4, 4), seed=8), (2, 4, 4))


# ---------------------------------------------------------------------------------------------------------
# single-step modules


def single_step_body() -> nn.Module:
    return nn.Sequential(
        layer.Conv2d(2, 6, 3, padding=1), neuron.LIFNode(tau=2.0), layer.MaxPool2d(2),
        layer.Flatten(), layer.Linear(6 * 4 * 4, 12), neuron.IFNode(v_reset=None))


def test_single_step_network_in_multi_step_container() -> None:
    model = randomize(nn.Sequential(layer.MultiStepContainer(*single_step_body())), seed=10, gain=2.0)
    x = currents((2, 8, 8), seed=11)
    graph = assert_reproduces(model, x, (2, 8, 8))
    multi = nn.Sequential(*copy.deepcopy(model[0]))  # the library's multi-step form of the same network
    for m in multi.modules():
        if hasattr(m, "step_mode"):
            m.step_mode = "m"
    by_path = record(multi, x)
    assert all(np.array_equal(by_path[p.removeprefix("0.")], s) for p, s in record(model, x).items())
    assert len(graph.of_kind(ir.LIF)) == 2


def test_stateful_step_mode_container() -> None:
    body = layer.StepModeContainer(True, "m", *single_step_body())
    functional.set_step_mode(body, "s")
    body.step_mode = "m"
    model = randomize(nn.Sequential(body), seed=10, gain=2.0)
    assert_reproduces(model, currents((2, 8, 8), seed=11), (2, 8, 8))


# ---------------------------------------------------------------------------------------------------------
# refusals: path, class and hint


def _refusal(model: nn.Module, shape: tuple[int, ...] = (2, 8, 8)) -> CompileError:
    with pytest.raises(CompileError) as info:
        snncompile.trace(model, input_shape=shape, timesteps=T)
    return info.value


def test_single_step_neuron_at_sequence_level_is_refused() -> None:
    err = _refusal(nn.Sequential(layer.Conv2d(2, 4, 3, step_mode="m"), neuron.LIFNode()))
    diag = err.diagnostics[0]
    assert diag.code == "SNC702" and diag.origin == "1"
    assert "spikingjelly.activation_based.neuron.lif.LIFNode" in diag.message
    assert "MultiStepContainer" in (diag.hint or "")


def test_multi_step_neuron_inside_per_step_container_is_refused() -> None:
    container = layer.MultiStepContainer(layer.Conv2d(2, 4, 3), neuron.IFNode())
    container[1].step_mode = "m"  # (the library checks this only at construction)
    err = _refusal(nn.Sequential(container))
    assert err.codes == ["SNC702"] and err.diagnostics[0].origin == "0.1"


def test_neuron_inside_seq_to_ann_container_is_refused() -> None:
    err = _refusal(nn.Sequential(layer.SeqToANNContainer(nn.Conv2d(2, 4, 3), neuron.LIFNode())))
    assert err.codes == ["SNC702"] and err.diagnostics[0].origin == "0.1"


def test_unsupported_library_module_names_path_class_and_hint() -> None:
    model = nn.Sequential(layer.Conv2d(2, 4, 3, step_mode="m"),
                          nn.Sequential(neuron.LIFNode(step_mode="m"), neuron.IzhikevichNode(step_mode="m")))
    diag = _refusal(model).diagnostics[0]
    assert diag.code == "SNC700" and diag.origin == "1.1"
    assert "spikingjelly.activation_based.neuron" in diag.message and "IzhikevichNode" in diag.message
    assert "LIFNode" in (diag.hint or "") and "register_converter" in (diag.hint or "")


def test_analog_surrogate_is_refused() -> None:
    from spikingjelly.activation_based import surrogate

    err = _refusal(nn.Sequential(neuron.LIFNode(surrogate_function=surrogate.Sigmoid(spiking=False),
                                                step_mode="m")), shape=(4,))
    assert err.codes == ["SNC701"] and "spiking=False" in err.diagnostics[0].message


def test_subclass_with_own_dynamics_is_refused() -> None:
    class MyLIF(neuron.LIFNode):
        pass

    err = _refusal(nn.Sequential(MyLIF(step_mode="m")), shape=(4,))
    assert err.codes == ["SNC700"] and "subclass" in err.diagnostics[0].message


# ---------------------------------------------------------------------------------------------------------
# safe loading


def test_pickled_spikingjelly_model_loads_without_trusting_pickle(tmp_path) -> None:
    model = randomize(nn.Sequential(*cnn(*(neuron.ParametricLIFNode(step_mode="m") for _ in range(3))),
                                    MPBNLIFNode(out_features=12, step_mode="m")), seed=3)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = snncompile.load(path)  # weights_only=True with the spikingjelly classes allowlisted
    x = currents((2, 8, 8), seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(record(model, x).values(), record(loaded, x).values(),
                                                    strict=True))


def test_if_neurons_compile_for_loihi_with_the_exact_non_strict_encoding() -> None:
    """IFNode (v ≥ θ, no leak, hard reset) is exact on Loihi: vThMant − 1 on a membrane that stays on the
    64-grid; the float-vs-integer difference left is 8-bit weight rounding only."""
    from snncompile.targets.loihi.numerics import simulate_loihi

    model = randomize(nn.Sequential(layer.Linear(16, 24, step_mode="m"), neuron.IFNode(step_mode="m"),
                                    layer.Linear(24, 8, step_mode="m"), neuron.IFNode(step_mode="m")), seed=3)
    x = currents((16,), seed=4)
    assert_reproduces(model, x, (16,))
    result = snncompile.compile(model, "loihi", input_shape=(16,), timesteps=T)
    pops = result.graph.of_kind(LoihiLIF)
    assert {p.v_decay for p in pops} == {0}
    ledger = result.graph.metadata["loihi"]["ledger"]
    assert all(p.threshold == ledger[p.name]["vth"] - 1 for p in pops)
    fixed = simulate_loihi(result.graph, x, pipelined=False)
    reference = snncompile.simulate(result.traced, x)
    for name in ("1", "3"):
        agreement = float(np.mean(fixed[name] == reference[name]))
        assert agreement > 0.85, f"{name}: only {agreement:.1%} of spike decisions agree after quantization"


def test_leaky_non_strict_compiles_for_loihi_only_when_allowed(tmp_path) -> None:
    """--loihi-allow non-strict: the tdBN ResNet's leaky ≥ neurons compile as > with one SNC611 warning each,
    recorded in the manifest; the integer model stays close to the float one (measured below)."""
    import json

    from snncompile.targets.loihi.numerics import simulate_loihi

    model = randomize(TdBNResNet(), seed=5, gain=2.0, calibrate=currents((2, 8, 8), seed=60))
    x = currents((2, 8, 8), seed=6)
    leaky = {p for p, m in model.named_modules() if isinstance(m, NEURONS) and not isinstance(m, neuron.IFNode)}
    result = snncompile.compile(model, "loihi", tmp_path / "out", input_shape=(2, 8, 8), timesteps=T,
                                options={"allow": ["non-strict"], "calibration": x.numpy()})
    warned = {d.origin for d in result.diagnostics if d.code == "SNC611"}
    assert warned == leaky and all(d.severity == "warning" for d in result.diagnostics if d.code == "SNC611")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["approximations"]) >= len(leaky)
    assert all(a["kind"] == "non-strict" for a in manifest["approximations"])
    fixed = simulate_loihi(result.graph, x, pipelined=False)
    reference = snncompile.simulate(result.traced, x)
    for node in result.traced.of_kind(LIFExt, ir.LIF):
        if node.name in fixed.values:
            agreement = float(np.mean(fixed[node.name] == reference[node.name]))
            assert agreement > 0.8, f"{node.name}: {agreement:.1%}"
