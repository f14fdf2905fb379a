"""fold-norm property tests: random IR graphs simulated before and after the pass must spike identically."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.passes import FoldNorm, PassContext, Pipeline
from snncompile.verification.compare import Comparison, compare


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny float64 convs run ~30x faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _src(e: str | ir.Edge) -> str:
    return e if isinstance(e, str) else e.src


class Net:
    """Builds a random IR graph layer by layer; `rng` draws every parameter."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...], low_var: bool = False,
                 nonzero_gamma: bool = False) -> None:
        self.rng, self.nodes = rng, [ir.Input("x", (), shape=shape)]
        self.shapes: dict[str, tuple[int, ...]] = {"x": shape}
        self.low_var, self.nonzero_gamma = low_var, nonzero_gamma

    def add(self, cls: type[ir.Op], inputs: tuple[str | ir.Edge, ...], **fields: object) -> str:
        name = f"{cls.kind}{len(self.nodes)}"
        node = cls(name=name, inputs=inputs, **fields)  # type: ignore[arg-type]
        self.shapes[name] = node.infer_shape([self.shapes[_src(e)] for e in inputs])
        self.nodes.append(node)
        return name

    def graph(self, output: str) -> ir.Graph:
        graph = ir.Graph(tuple(self.nodes), (output,))
        ir.verify_or_raise(graph)
        return graph

    def gamma(self, shape: tuple[int, ...]) -> np.ndarray:
        """Mixed signs: positive, negative, exactly 0, and ±tiny (|γ| near 0)."""
        kind = self.rng.choice(4, size=shape, p=[0.5, 0.5, 0, 0] if self.nonzero_gamma else [0.45, 0.35, 0.1, 0.1])
        mag = np.where(kind == 3, 10.0 ** self.rng.uniform(-9, -5, shape), self.rng.uniform(0.4, 2.0, shape))
        sign = np.where(self.rng.random(shape) < 0.5, -1.0, 1.0)
        return np.where(kind == 2, 0.0, np.where(kind == 0, 1.0, np.where(kind == 1, -1.0, sign)) * mag)

    def conv(self, src: str, c_out: int, k: int = 3) -> str:
        c_in = self.shapes[src][0]
        groups = 2 if c_in % 2 == 0 and c_out % 2 == 0 and self.rng.random() < 0.3 else 1
        w = self.rng.normal(0, 1.5 / np.sqrt(c_in * k * k / groups), (c_out, c_in // groups, k, k))
        bias = self.rng.normal(0, 0.2, c_out) if self.rng.random() < 0.5 else None
        size = min(self.shapes[src][1:])
        pad = k // 2 if size <= k + 1 else int(self.rng.integers(0, 2)) * (k // 2)
        stride = 2 if size >= 6 and self.rng.random() < 0.3 else 1
        return self.add(ir.Conv2d, (src,), weight=w, bias=bias, padding=(pad, pad), stride=(stride, stride),
                        groups=groups)

    def dense(self, src: str, n_out: int) -> str:
        if len(self.shapes[src]) > 1:
            src = self.add(ir.Flatten, (src,))
        n_in = self.shapes[src][0]
        return self.add(ir.Dense, (src,), weight=self.rng.normal(0, 1.5 / np.sqrt(n_in), (n_out, n_in)),
                        bias=self.rng.normal(0, 0.2, n_out) if self.rng.random() < 0.5 else None)

    def bn(self, src: str) -> str:
        c = self.shapes[src][0]
        var = self.rng.uniform(0.001, 0.02, c) if self.low_var else self.rng.uniform(0.05, 2.0, c)
        return self.add(ir.BatchNorm, (src,), mean=self.rng.normal(0, 0.3, c), var=var, weight=self.gamma((c,)),
                        bias=self.rng.normal(0.2, 0.4, c), eps=float(self.rng.choice([1e-5, 1e-3, 0.05])),
                        scale=float(self.rng.choice([1.0, 0.5, 0.5 / np.sqrt(2), 0.6])),
                        eps_inside=bool(self.rng.random() < 0.5))

    def psp(self, src: str, bias: bool) -> str:
        c = self.shapes[src][0]
        return self.add(ir.PSPNorm, (src,), moment2=self.rng.uniform(0.1, 3.0, c), weight=self.gamma((c,)),
                        bias=self.rng.normal(0.2, 0.3, c) if bias else None, eps=1e-5)

    def lif(self, *srcs: str | ir.Edge, reset: str | None = None) -> str:
        shape = self.shapes[_src(srcs[0])]
        levels = [0.5] if self.rng.random() < 0.8 else [0.6, 1.6, 2.6]
        s2nn = self.rng.random() < 0.1
        return self.add(ir.LIF, srcs, decay=np.zeros(shape) if s2nn else self.rng.uniform(0.1, 0.9, shape),
                        threshold=np.stack([np.full(shape, v) for v in levels]),
                        comparison=">=" if s2nn else ">",
                        reset="none" if s2nn else reset or str(self.rng.choice(["zero", "subtract"])))

    def mpbn(self, *srcs: str | ir.Edge, elementwise: bool | None = None, soft: bool = False) -> str:
        shape = self.shapes[_src(srcs[0])]
        if elementwise is None:
            elementwise = bool(self.rng.random() < 0.4)
        p = shape if elementwise else (shape[0],) + (1,) * (len(shape) - 1)
        v_th, fire_level = float(self.rng.choice([1.0, 0.5])), 0.5
        mean, bias = self.rng.normal(0, 0.4, p), self.rng.normal(0.25, 0.4, p)
        gamma = self.gamma(p)
        if soft:  # θ' = 1 exactly, the one case where MPBN soft reset folds exactly; γ = 0 stays constant
            gamma = np.where(np.abs(gamma) < 1e-3, 0.0, gamma)  # a tiny γ·(h − 1) vanishes next to β: a true tie
            mean = np.ones(p)
            bias = np.where(gamma == 0, bias, fire_level * v_th)
        return self.add(ir.MPBNLIF, srcs, decay=self.rng.uniform(0.1, 0.9, shape), mean=mean,
                        var=self.rng.uniform(0.05, 2.0, p), weight=gamma, bias=bias, v_th=v_th,
                        fire_level=fire_level, eps=1e-5, reset="subtract" if soft else "zero")


# ---- graph families ---------------------------------------------------------------------------------------

def plain(net: Net) -> str:
    """conv → BN → LIF → conv → BN → LIF → dense → BN → LIF (both ε forms, hard/soft/no reset)."""
    h = net.lif(net.bn(net.conv("x", 4)))
    h = net.lif(net.bn(net.conv(h, 4)))
    h = net.lif(net.bn(net.dense(h, 6)))
    return net.add(ir.Readout, (h,), weight=net.rng.normal(size=(3, 6)))


def mpbn(net: Net) -> str:
    """conv → (BN) → MPBN → maxpool → conv → MPBN → dense → MPBN, channel- and element-wise."""
    c = net.conv("x", 4)
    h = net.mpbn(net.bn(c) if net.rng.random() < 0.5 else c)
    if min(net.shapes[h][1:]) >= 4:
        h = net.add(ir.MaxPool2d, (h,), kernel=(2, 2), stride=(2, 2))
    h = net.mpbn(net.conv(h, 4, k=int(net.rng.choice([1, 3]))))
    return net.mpbn(net.dense(h, 6))


def soft_mpbn(net: Net) -> str:
    """MPBN with soft reset and θ' = 1 exactly (mixed-sign γ, γ = 0)."""
    h = net.mpbn(net.conv("x", 4), soft=True)
    return net.mpbn(net.bn(net.dense(h, 5)), soft=True)


def spiking_res(net: Net) -> str:
    """Spiking ResNet block: LIF|MPBN(BN(conv(LIF(BN(conv x)))) + skip), skip = spikes or BN(conv1x1)."""
    w = net.rng.normal
    x = net.lif(net.bn(net.add(ir.Conv2d, ("x",), weight=w(0, 0.8, (4, 2, 3, 3)), padding=(1, 1))), reset="zero")
    for _ in range(2):
        s = 2 if min(net.shapes[x][1:]) >= 6 and net.rng.random() < 0.4 else 1
        h = net.lif(net.bn(net.add(ir.Conv2d, (x,), weight=w(0, 0.6, (4, 4, 3, 3)), padding=(1, 1), stride=(s, s))))
        main = net.bn(net.add(ir.Conv2d, (h,), weight=w(0, 0.4, (4, 4, 3, 3)), padding=(1, 1)))
        main = net.add(ir.Identity, (main,)) if net.rng.random() < 0.3 else main
        if s == 2 or net.rng.random() < 0.3:
            skip: str | ir.Edge = net.bn(net.add(ir.Conv2d, (x,), weight=w(0, 0.6, (4, 4, 1, 1)), stride=(s, s)))
        else:
            skip = ir.Edge(x, int(net.rng.integers(0, 2)))
        srcs = (net.add(ir.Add, (main, skip)),) if net.rng.random() < 0.5 else (main, skip)
        x = net.mpbn(*srcs, elementwise=False) if net.rng.random() < 0.5 else net.lif(*srcs)
    return x


def preact(net: Net) -> str:
    """Pre-activation stream of currents: x_{k+1} = conv(LIF(PSP(conv(LIF(PSP(x_k)))))) + x_k (copies);
    the first block may start on the raw input (PSP-norm folded into the LIF gain, projection shortcut)."""
    w = net.rng.normal
    stream = "x" if net.rng.random() < 0.3 else net.add(ir.Conv2d, ("x",), weight=w(0, 0.7, (3, 2, 3, 3)),
                                                        padding=(1, 1))
    for _ in range(int(net.rng.integers(2, 4))):
        c_in = net.shapes[stream][0]
        a = net.lif(net.psp(stream, bias=stream != "x" and net.rng.random() < 0.5))
        h = net.lif(net.psp(net.add(ir.Conv2d, (a,), weight=w(0, 0.6, (3, c_in, 3, 3)), padding=(1, 1)),
                            bias=net.rng.random() < 0.5))
        out = net.add(ir.Conv2d, (h,), weight=w(0, 0.6, (3, 3, 3, 3)), padding=(1, 1))
        skip = ir.Edge(stream, int(net.rng.integers(0, 2)))
        if c_in != 3:
            skip = ir.Edge(net.add(ir.Conv2d, (a,), weight=w(0, 0.6, (3, c_in, 1, 1))))
        stream = net.add(ir.Add, (out, skip))
    return net.lif(net.bn(stream) if net.rng.random() < 0.5 else net.psp(stream, bias=False))


def readers(net: Net) -> str:
    """Norms on non-linear values (input, spikes) folded into their readers: conv (unpadded, or padded
    with PSP-norm without bias), maxpool, flatten → dense, LIF gain."""
    x = net.psp("x", bias=False) if net.rng.random() < 0.5 else "x"
    h = net.lif(net.add(ir.Conv2d, (x,), weight=net.rng.normal(0, 0.8, (4, 2, 3, 3)), padding=(1, 1)))
    n = net.bn(h) if net.rng.random() < 0.5 else net.psp(h, bias=bool(net.rng.random() < 0.5))
    padded = isinstance(net.nodes[-1], ir.PSPNorm) and net.nodes[-1].bias is None
    h = net.lif(net.add(ir.Conv2d, (n,), weight=net.rng.normal(0, 0.5, (4, 4, 3, 3)),
                        padding=(1, 1) if padded else (0, 0)))
    if net.rng.random() < 0.5:
        h = net.psp(h, bias=False)
        h = net.add(ir.MaxPool2d, (h,), kernel=(2, 2), stride=(2, 2)) if net.nodes[-1].weight.min() >= 0 else h
    h = net.dense(net.bn(h) if net.rng.random() < 0.5 else h, 5)
    return net.lif(net.psp(net.lif(h), bias=False))


FAMILIES: dict[str, tuple[Callable[[Net], str], str]] = {
    "plain": (plain, "currents"), "mpbn": (mpbn, "currents"), "soft-mpbn": (soft_mpbn, "currents"),
    "spiking-res": (spiking_res, "spikes"), "preact": (preact, "currents"), "readers": (readers, "spikes"),
}


def draw(family: str, seed: int, attempt: int, **options: bool) -> tuple[ir.Graph, np.ndarray]:
    rng = np.random.default_rng([seed, attempt])
    build, kind = FAMILIES[family]
    shape = (2, int(rng.integers(4, 7)), int(rng.integers(4, 7)))
    net = Net(rng, shape, **options)
    graph = net.graph(build(net))
    full = (int(rng.integers(20, 31)), int(rng.integers(2, 5)), *shape)
    x = rng.normal(0, 1, full) if kind == "currents" else (rng.random(full) < 0.3).astype(np.float64)
    return graph, x


def fold(graph: ir.Graph, rules: Counter[str] | None = None) -> ir.Graph:
    folded, records = Pipeline((FoldNorm(),)).run(graph, PassContext())
    if rules is not None:
        rules.update({note.split()[0] for note in records[0].notes})
    return folded


def checked(family: str, seed: int, transform: Callable[[ir.Graph], ir.Graph], stats: Counter[str],
            attempts: int = 20, **options: bool) -> Comparison:
    """Draw a case, transform, compare; near-ties (margin < 1e-9) are re-drawn and counted."""
    for attempt in range(attempts):
        graph, x = draw(family, seed, attempt, **options)
        result = compare(graph, transform(graph), x)
        if not result.near_tie():
            stats["decisions"] += sum(result.decisions.values())
            stats["mismatches"] += result.total_mismatches
            return result
        stats["redrawn"] += 1
    raise AssertionError(f"{family} seed {seed}: {attempts} draws in a row were near-ties")


def test_fold_norm_is_exact_on_random_graphs(capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    seen: set[tuple[str, int]] = set()

    @settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @given(family=st.sampled_from(sorted(FAMILIES)), seed=st.integers(0, 2**32 - 1))
    def case(family: str, seed: int) -> None:
        result = checked(family, seed, lambda g: fold(g, rules), stats)
        assert result.total_mismatches == 0, f"{family} seed {seed}: {result.mismatches}"
        assert result.readout_error < 1e-9
        seen.add((family, seed))
        stats[family] += 1

    case()
    with capsys.disabled():
        print(f"\nfold-norm property: {len(seen)} cases ({', '.join(f'{f} {stats[f]}' for f in sorted(FAMILIES))}), "
              f"{stats['mismatches']} mismatches in {stats['decisions']} spike decisions, {stats['redrawn']} "
              f"near-tie draws re-drawn; rules used: {dict(sorted((k, v) for k, v in rules.items() if k[0] == 'F'))}")
    assert len(seen) >= 200 and stats["mismatches"] == 0
    assert {f"F{i}" for i in range(1, 11)} <= set(rules)


# ---- the harness catches wrong folds ----------------------------------------------------------------------

def naive_mpbn(graph: ir.Graph) -> ir.Graph:
    """MPBN folded blindly: LIF threshold θ' = μ + (θ_n − β)·D/γ, sign of γ ignored (the trap of
    docs FOLDING.md section 6.1), then the BNs folded correctly."""
    nodes = []
    for n in graph.nodes:
        if isinstance(n, ir.MPBNLIF):
            shape = n.decay.shape
            theta = n.mean + (n.fire_level * n.v_th - n.bias) * np.sqrt(n.var + n.eps) / n.weight
            n = ir.LIF(n.name, n.inputs, n.origin, decay=n.decay,
                       threshold=np.broadcast_to(theta, shape)[None], reset=n.reset)
        nodes.append(n)
    return fold(graph.with_nodes(nodes))


def wrong_eps(graph: ir.Graph) -> ir.Graph:
    """BN folded with the other ε placement (√(σ²+ε) vs √σ²+ε)."""
    flipped = [n.replace(eps_inside=not n.eps_inside) if isinstance(n, ir.BatchNorm) else n for n in graph.nodes]
    return fold(graph.with_nodes(flipped))


@pytest.mark.parametrize(("name", "family", "transform", "options"), [
    ("sign of γ ignored", "mpbn", naive_mpbn, {"nonzero_gamma": True}),
    ("wrong ε placement", "plain", wrong_eps, {"low_var": True}),
])
def test_naive_folds_mismatch(name: str, family: str, transform: Callable[[ir.Graph], ir.Graph],
                              options: dict[str, bool], capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for seed in range(12):
        checked(family, seed, transform, stats, **options)
        checked(family, seed, fold, correct, **options)
    with capsys.disabled():
        print(f"\nnaive fold ({name}): {stats['mismatches']} / {stats['decisions']} spike decisions differ "
              f"over 12 cases ({stats['redrawn']} re-drawn); fold-norm on the same cases: "
              f"{correct['mismatches']} / {correct['decisions']}")
    assert stats["mismatches"] > 0
    assert correct["mismatches"] == 0


def offset_bn_before_padded_conv(rng: np.random.Generator) -> ir.Graph:
    c = 3
    nodes = [ir.Input("x", (), shape=(2, 5, 5)),
             ir.Conv2d("conv0", ("x",), weight=rng.normal(0, 0.8, (c, 2, 3, 3)), padding=(1, 1)),
             ir.LIF("lif0", ("conv0",), decay=np.full((c, 5, 5), 0.5), threshold=np.full((1, c, 5, 5), 0.5)),
             ir.BatchNorm("bn", ("lif0",), mean=rng.uniform(0.2, 0.6, c), var=rng.uniform(0.1, 0.3, c),
                          weight=rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c), bias=rng.normal(0, 0.3, c)),
             ir.Conv2d("conv1", ("bn",), weight=rng.normal(0, 0.5, (c, c, 3, 3)), padding=(1, 1)),
             ir.LIF("lif1", ("conv1",), decay=np.full((c, 5, 5), 0.5), threshold=np.full((1, c, 5, 5), 0.5))]
    return ir.Graph(tuple(nodes), ("lif1",))


def approximate_forward_fold(graph: ir.Graph) -> ir.Graph:
    """What fold-norm refuses (SNC501): BN folded into the padded conv after it as W·a, bias Σ W·b."""
    bn, conv = graph.node("bn"), graph.node("conv1")
    a = bn.weight * bn.scale / bn.denominator()
    b = bn.bias - a * bn.mean
    folded = conv.replace(inputs=bn.inputs, weight=conv.weight * a[None, :, None, None],
                          bias=(conv.weight * b[None, :, None, None]).sum(axis=(1, 2, 3)))
    return graph.with_nodes([folded if n is conv else n for n in graph.nodes if n is not bn])


def test_offset_bn_before_padded_conv_would_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()
    for seed in range(10):
        rng = np.random.default_rng(seed)
        graph = offset_bn_before_padded_conv(rng)
        with pytest.raises(CompileError) as info:
            fold(graph)
        assert info.value.codes == ["SNC501"]
        result = compare(graph, approximate_forward_fold(graph), rng.normal(0, 1, (20, 2, 2, 5, 5)))
        stats["mismatches"] += result.total_mismatches
        stats["decisions"] += sum(result.decisions.values())
    with capsys.disabled():
        print(f"\napproximate BN fold before a padded conv: {stats['mismatches']} / {stats['decisions']} "
              "spike decisions differ over 10 cases (fold-norm refuses with SNC501)")
    assert stats["mismatches"] > 0


def test_margin_check_flags_a_float_tie() -> None:
    """β = θ_n and |γ| = 1e-18: MPBN's γ·(h − μ)/D vanishes next to β in float64, the folded h > μ does
    not; the margin check flags the case as a near-tie instead of blaming the fold."""
    shape = (3,)
    nodes = [ir.Input("x", (), shape=shape),
             ir.MPBNLIF("m", ("x",), decay=np.full(shape, 0.25), mean=np.zeros(shape), var=np.ones(shape),
                        weight=np.array([1e-18, -1e-18, 1e-18]), bias=np.full(shape, 0.5))]
    graph = ir.Graph(tuple(nodes), ("m",))
    result = compare(graph, fold(graph), np.random.default_rng(0).normal(0, 1, (20, 2, 3)))
    assert result.near_tie()
    assert result.total_mismatches > 0
