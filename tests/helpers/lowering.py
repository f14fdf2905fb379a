"""Random IR networks and the near-tie-aware differential harness shared by the lower-*/legalize-* tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.passes import Pass, PassContext, Pipeline
from snncompile.sim import simulate
from snncompile.verification.compare import Comparison, compare

RESETS = ("zero", "subtract", "none")
FAMILIES = ("plain", "tdbn", "ds", "preact")


def spike_input(shape: tuple[int, ...], steps: int, batch: int, seed: int, kind: str = "spikes") -> np.ndarray:
    """[T, B, *shape] float64: binary spikes at rate 0.3, or Gaussian currents."""
    rng = np.random.default_rng(seed + 77)
    full = (steps, batch, *shape)
    return (rng.random(full) < 0.3).astype(np.float64) if kind == "spikes" else rng.normal(size=full)


@dataclass
class Net:
    """Builds a random IR network node by node; `mag` tracks a rough RMS of every value so that weights
    can be scaled to give drives of order one, whatever feeds them."""

    rng: np.random.Generator
    reset: str | None = None        # None: a random reset per population
    comparison: str | None = None   # None: random per population
    levels: int = 1                 # levels of the MLF populations of the family "ds"
    delay_p: float = 0.15
    s2nn: bool = False
    nodes: list[ir.Op] = field(default_factory=list)
    shapes: dict[str, ir.Shape] = field(default_factory=dict)
    mag: dict[str, float] = field(default_factory=dict)

    def add(self, cls: type[ir.Op], inputs: list[ir.Edge], mag: float, **fields: object) -> str:
        name = f"{cls.kind}{len(self.nodes)}"
        node = cls(name, tuple(inputs), f"net.{name}", **fields)  # type: ignore[call-arg]
        self.shapes[name] = node.infer_shape([self.shapes[e.src] for e in node.inputs])
        self.nodes.append(node)
        self.mag[name] = mag
        return name

    def edge(self, src: str) -> ir.Edge:
        delay = int(self.rng.integers(1, 3)) if self.rng.random() < self.delay_p else 0
        return ir.Edge(src, delay)

    def input(self, shape: tuple[int, ...], kind: str) -> str:
        return self.add(ir.Input, [], 0.55 if kind == "spikes" else 1.0, shape=shape)

    def _bias(self, n: int) -> np.ndarray | None:
        return self.rng.normal(0, 0.3, n) if self.rng.random() < 0.7 else None

    def synapse(self, src: str, n_out: int, kernel: int = 3, stride: int = 1) -> str:
        """conv2d (rank 3) or dense (rank 1) with weights scaled to an RMS drive of ~1."""
        shape = self.shapes[src]
        if len(shape) == 1:
            w = self.rng.normal(0, 1.0, (n_out, shape[0])) / (np.sqrt(shape[0]) * self.mag[src])
            return self.add(ir.Dense, [self.edge(src)], 1.0, weight=w, bias=self._bias(n_out))
        fan_in = shape[0] * kernel * kernel
        w = self.rng.normal(0, 1.0, (n_out, shape[0], kernel, kernel)) / (np.sqrt(fan_in) * self.mag[src])
        return self.add(ir.Conv2d, [self.edge(src)], 1.0, weight=w, bias=self._bias(n_out),
                        stride=(stride, stride), padding=(kernel // 2, kernel // 2))

    def neuron(self, srcs: list[str], levels: int = 1) -> str:
        shape = self.shapes[srcs[0]]
        rng = self.rng
        base = rng.uniform(0.3, 1.0, (1, *shape[:1], *(1,) * (len(shape) - 1))) * np.ones((1, *shape))
        steps = rng.uniform(0.4, 1.2, (levels - 1, *base.shape[1:2], *(1,) * (len(shape) - 1))) * base
        threshold = np.concatenate([base, base + np.cumsum(steps, axis=0)]) if levels > 1 else base
        s2nn = self.s2nn or rng.random() < 0.1
        decay = np.zeros(shape) if s2nn else rng.uniform(0.0, 0.9, shape)
        reset = "none" if s2nn else (self.reset or str(rng.choice(RESETS)))
        comparison = ">=" if s2nn else (self.comparison or str(rng.choice([">", ">="])))
        gain = rng.uniform(0.5, 1.5, shape) if rng.random() < 0.25 else None
        return self.add(ir.LIF, [self.edge(s) for s in srcs], 0.55 * np.sqrt(levels), decay=decay,
                        threshold=threshold, comparison=comparison, reset=reset, gain=gain)

    def sum(self, *srcs: str) -> str:
        mag = float(np.sqrt(sum(self.mag[s] ** 2 for s in srcs)))
        return self.add(ir.Add, [self.edge(s) for s in srcs], mag)

    def pool(self, src: str, mode: str) -> str:
        mag = self.mag[src] * (2.0 if mode == "sum" else 0.7)
        return self.add(ir.Pool2d, [self.edge(src)], mag, mode=mode, kernel=(2, 2), stride=(2, 2))

    def flatten(self, src: str) -> str:
        return self.add(ir.Flatten, [self.edge(src)], self.mag[src])

    def readout(self, src: str, classes: int = 3) -> str:
        n = self.shapes[src][0]
        w = self.rng.normal(0, 1.0, (classes, n)) / np.sqrt(n)
        return self.add(ir.Readout, [self.edge(src)], 1.0, weight=w, bias=self.rng.normal(0, 0.1, classes))

    def graph(self, outputs: list[str], steps: int | None = None) -> ir.Graph:
        meta = {} if steps is None else {"timesteps": steps}
        return ir.Graph(tuple(self.nodes), tuple(outputs), meta)


def width(net: Net, src: str) -> int:
    return net.shapes[src][0]


def block_current_current(net: Net, x: str) -> str:
    """tdBN projection block: LIF(syn(x) + syn1x1(x)), both currents."""
    return net.neuron([net.sum(net.synapse(x, width(net, x)), net.synapse(x, width(net, x), kernel=1))])


def block_current_spike(net: Net, x: str) -> str:
    """tdBN identity block: LIF(syn2(LIF(syn1(x))) + x), x spikes: current + spikes into one neuron."""
    h = net.neuron([net.synapse(x, width(net, x))])
    return net.neuron([net.sum(net.synapse(h, width(net, x)), x)])


def block_ds(net: Net, stream: str) -> str:
    """DS-ResNet: MLF(syn2(MLF(syn1(stream)))) + shortcut, spike counts; shortcut identity or MLF(syn1x1)."""
    c = width(net, stream)
    a = net.neuron([net.synapse(stream, c)], net.levels)
    b = net.neuron([net.synapse(a, c)], net.levels)
    short = stream if net.rng.random() < 0.6 else net.neuron([net.synapse(stream, c, kernel=1)], net.levels)
    return net.sum(b, short)


def block_preact(net: Net, s: str) -> str:
    """Pre-activation: syn2(LIF(syn1(LIF(s)))) + shortcut; the stream s carries currents only."""
    c = width(net, s)
    a = net.neuron([s])
    out = net.synapse(net.neuron([net.synapse(a, c)]), c)
    return net.sum(out, s if net.rng.random() < 0.6 else net.synapse(a, c, kernel=1))


def _head(net: Net, stream: str) -> str:
    rng = net.rng
    if len(net.shapes[stream]) == 3:
        if rng.random() < 0.6:
            stream = net.pool(stream, str(rng.choice(["avg", "sum"])))
        stream = net.flatten(stream)
    if rng.random() < 0.5:
        stream = net.neuron([net.synapse(stream, 6)], net.levels if rng.random() < 0.5 else 1)
    return net.readout(stream)


def random_network(seed: int, family: str, *, rank: int = 3, levels: int = 3, blocks: int = 2,
                   reset: str | None = None, s2nn: bool = False, input_kind: str = "spikes",
                   steps: int | None = None) -> tuple[ir.Graph, tuple[int, ...]]:
    """A random network of one residual family ("plain", "tdbn", "ds", "preact") and its input shape."""
    net = Net(np.random.default_rng(seed), reset=reset, levels=levels, s2nn=s2nn)
    rng = net.rng
    shape = (int(rng.integers(1, 4)), int(rng.integers(4, 7)), int(rng.integers(4, 7))) if rank == 3 \
        else (int(rng.integers(5, 11)),)
    x = net.input(shape, input_kind)
    c = int(rng.integers(2, 5)) if rank == 3 else int(rng.integers(4, 9))
    stem = net.synapse(x, c)
    stream = stem if family == "preact" else net.neuron([stem], levels if family == "ds" else 1)
    for _ in range(blocks):
        if family == "plain":
            stream = net.neuron([net.synapse(stream, c)], int(rng.choice([1, levels])))
        elif family == "tdbn":
            stream = (block_current_spike if rng.random() < 0.5 else block_current_current)(net, stream)
        elif family == "ds":
            stream = block_ds(net, stream)
        else:
            stream = block_preact(net, stream)
    if family == "preact":
        stream = net.neuron([stream])
    return net.graph([_head(net, stream)], steps), shape


# ---------------------------------------------------------------------------------------------------------
# The differential harness


@dataclass
class Census:
    """What a property test saw over all its cases: cases, re-drawn near-ties, spike decisions, spikes."""

    name: str
    cases: int = 0
    redrawn: int = 0
    decisions: int = 0
    mismatches: int = 0

    def line(self) -> str:
        return (f"{self.name}: {self.cases} random cases, {self.decisions} spike decisions compared, "
                f"{self.mismatches} mismatches, {self.redrawn} near-tie draws re-drawn")


Case = Callable[[int], tuple[ir.Graph, ir.Graph, np.ndarray]]
"""seed -> (graph before, graph after, input [T, B, ...])."""


def check_case(case: Case, seed: int, census: Census, tries: int = 6) -> Comparison:
    """Run case(seed) and compare; a draw with a float near-tie is re-drawn with the next seed (counted).
    Asserts zero spike mismatches on the first draw without a near-tie."""
    for attempt in range(tries):
        before, after, x = case(seed + 1_000_003 * attempt)
        result = compare(before, after, x)
        if result.near_tie():
            census.redrawn += 1
            continue
        neurons = {n.name for n in before.of_kind(ir.LIF, ir.MPBNLIF)}
        assert set(result.mismatches) == neurons, f"not compared: {neurons - set(result.mismatches)}"
        census.cases += 1
        census.decisions += sum(result.decisions.values())
        census.mismatches += result.total_mismatches
        assert result.total_mismatches == 0, f"seed {seed}: spike mismatches {result.mismatches}"
        assert result.readout_error < 1e-9, f"seed {seed}: readout differs by {result.readout_error}"
        return result
    pytest.fail(f"seed {seed}: a near-tie in all {tries} draws")


def mismatch_total(case: Case, seeds: range) -> tuple[int, int]:
    """(spike mismatches, decisions) summed over seeds, skipping near-tie draws (for negative controls)."""
    wrong = total = 0
    for seed in seeds:
        before, after, x = case(seed)
        result = compare(before, after, x)
        if not result.near_tie():
            wrong += result.total_mismatches
            total += sum(result.decisions.values())
    return wrong, total


def run_passes(graph: ir.Graph, *passes: Pass) -> ir.Graph:
    """Run through the Pipeline (verify after each pass, requires/ensures rules checked)."""
    result, _ = Pipeline(tuple(passes)).run(graph, PassContext())
    return result


def report(request: pytest.FixtureRequest, text: str) -> None:
    """Print a line to the terminal even while output is captured."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        print(text)
        return
    with capman.global_and_fixture_disabled():
        print(f"\n[{text}]")


def firing_rate(graph: ir.Graph, x: np.ndarray) -> float:
    res = simulate(graph, x, record="neurons")
    rates = [float(np.mean(res[n.name] != 0)) for n in graph.of_kind(ir.LIF)]
    return float(np.mean(rates))


def census_fixture(census: Census) -> Callable[..., object]:
    """A module-scoped autouse fixture: single-threaded torch (tiny tensors: threads only add overhead)
    and, at the end of the module, the census line printed to the terminal."""

    @pytest.fixture(autouse=True, scope="module")
    def _census(request: pytest.FixtureRequest) -> object:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)
        if census.cases:
            report(request, census.line())

    return _census


def threshold_digest(graph: ir.Graph) -> str:
    """Golden-file lines with the distinct threshold values of every LIF population (the printer shows
    parameter shapes only)."""
    lines = []
    for n in graph.of_kind(ir.LIF):
        for k, level in enumerate(n.threshold):
            values = ", ".join(f"{v:.6g}" for v in np.unique(level))
            lines.append(f"  θ %{n.name}" + (f" level {k}" if n.levels > 1 else "") + f": {values}")
    return "\n".join(lines)


def row_digest(before: ir.Graph, after: ir.Graph) -> str:
    """Golden-file lines with the factor each output row/channel of a synapse changed by (copies `x.for.y`
    compared with `x`); a pooling turned into a depthwise conv shows its per-channel tap weight."""
    lines = []
    for n in after.of_kind(ir.Dense, ir.Conv2d):
        old = before.by_name.get(n.name.split(".for.")[0])
        if isinstance(old, ir.Pool2d):
            taps = ", ".join(f"{v:.6g}" for v in n.weight.reshape(n.weight.shape[0], -1)[:, 0])
            lines.append(f"  %{n.name}: depthwise tap weight per channel ({taps})")
        elif isinstance(old, (ir.Dense, ir.Conv2d)) and old.weight.shape == n.weight.shape:
            ratio = (n.weight / np.where(old.weight == 0, 1, old.weight)).reshape(n.weight.shape[0], -1)
            rows = ", ".join(f"{v:.6g}" for v in ratio[:, 0])
            same_bias = old.bias is None or np.allclose(n.bias / old.bias, ratio[:, 0])
            lines.append(f"  %{n.name}: rows ×({rows})" + ("" if same_bias else " BIAS NOT SCALED ALIKE"))
    return "\n".join(lines)
