"""Small lowered float graphs (and one fixed-point stress graph) for the Loihi tests and benchmark."""

from __future__ import annotations

import numpy as np

from snncompile import ir
from snncompile.ir.ops_ext import LIFExt
from snncompile.targets.loihi.ops import LoihiLIF

Pair = tuple[int, int]


class Builder:
    """Appends lowered-form nodes: synapses into LIF populations, with random weights."""

    def __init__(self, input_shape: tuple[int, ...], seed: int = 0, timesteps: int = 8) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[ir.Op] = [ir.Input("input", (), shape=input_shape)]
        self.timesteps = timesteps
        self.shapes: dict[str, tuple[int, ...]] = {"input": input_shape}

    def _add(self, node: ir.Op, shape: tuple[int, ...]) -> str:
        self.nodes.append(node)
        self.shapes[node.name] = shape
        return node.name

    def dense(self, name: str, src: str, n: int, gain: float = 1.0, bias: float = 0.0) -> str:
        if len(self.shapes[src]) != 1:
            src = self._add(ir.Flatten(f"{name}.flat", (ir.Edge(src),)), (int(np.prod(self.shapes[src])),))
        n_in = self.shapes[src][0]
        w = self.rng.normal(0, gain / np.sqrt(n_in), (n, n_in))
        b = self.rng.normal(0, bias, n) if bias else None
        return self._add(ir.Dense(name, (ir.Edge(src),), name, weight=w, bias=b), (n,))

    def conv(self, name: str, src: str, co: int, k: int | tuple[int, int] = 3, stride: Pair = (1, 1),
             padding: Pair = (1, 1), dilation: Pair = (1, 1), groups: int = 1, gain: float = 1.0,
             bias: float = 0.0) -> str:
        c = self.shapes[src][0]
        kh, kw = (k, k) if isinstance(k, int) else k
        w = self.rng.normal(0, gain / np.sqrt(c // groups * kh * kw), (co, c // groups, kh, kw))
        b = self.rng.normal(0, bias, co) if bias else None
        node = ir.Conv2d(name, (ir.Edge(src),), name, weight=w, bias=b, stride=stride, padding=padding,
                         dilation=dilation, groups=groups)
        return self._add(node, node.infer_shape([self.shapes[src]]))

    def pool(self, name: str, src: str, k: int = 2, mode: str = "avg") -> str:
        node = ir.Pool2d(name, (ir.Edge(src),), name, mode=mode, kernel=(k, k), stride=(k, k))
        return self._add(node, node.infer_shape([self.shapes[src]]))

    def maxpool(self, name: str, src: str, k: int = 2) -> str:
        node = ir.MaxPool2d(name, (ir.Edge(src),), name, kernel=(k, k), stride=(k, k))
        return self._add(node, node.infer_shape([self.shapes[src]]))

    def identity(self, name: str, src: str) -> str:
        shape = self.shapes[src]
        if len(shape) == 3:
            return self._add(ir.Conv2d(name, (ir.Edge(src),), name, weight=np.ones((shape[0], 1, 1, 1)),
                                       groups=shape[0]), shape)
        return self._add(ir.Dense(name, (ir.Edge(src),), name, weight=np.eye(shape[0])), shape)

    def lif(self, name: str, synapses: list[str], theta: float = 0.5, decay: float = 0.25,
            comparison: str = ">", reset: str = "zero") -> str:
        shape = self.shapes[synapses[0]]
        node = ir.LIF(name, tuple(ir.Edge(s) for s in synapses), name, decay=np.full(shape, decay),
                      threshold=np.full((1, *shape), theta), comparison=comparison, reset=reset)
        return self._add(node, shape)

    def cuba(self, name: str, synapses: list[str], syn_decay: float, theta: float = 0.5, decay: float = 0.25,
             gain: float = 1.0) -> str:
        """A current-based LIF (ir.LIFExt, immediate zero reset): i = syn_decay·i + x, h = decay·v + gain·i."""
        shape = self.shapes[synapses[0]]
        node = LIFExt(name, tuple(ir.Edge(s) for s in synapses), name, decay=np.full(shape, decay),
                      threshold=np.full(shape, theta), syn_decay=np.full(shape, syn_decay),
                      gain=None if gain == 1.0 else np.full(shape, gain), reset="zero")
        return self._add(node, shape)

    def readout(self, src: str, classes: int = 4) -> ir.Graph:
        if len(self.shapes[src]) != 1:
            src = self._add(ir.Flatten("readout.flat", (ir.Edge(src),)), (int(np.prod(self.shapes[src])),))
        w = self.rng.normal(0, 1, (classes, self.shapes[src][0]))
        self._add(ir.Readout("readout", (ir.Edge(src),), "readout", weight=w, bias=self.rng.normal(0, 1, classes)),
                  (classes,))
        return self.graph(("readout",))

    def graph(self, outputs: tuple[str, ...]) -> ir.Graph:
        g = ir.Graph(tuple(self.nodes), outputs, {"timesteps": self.timesteps})
        ir.verify_or_raise(g)
        return g


def dense_chain(sizes: tuple[int, ...] = (40, 30, 20), timesteps: int = 8, seed: int = 0, bias: float = 0.2,
                gain: float = 1.5) -> ir.Graph:
    b = Builder((sizes[0],), seed, timesteps)
    src = "input"
    for i, n in enumerate(sizes[1:]):
        src = b.lif(f"lif{i}", [b.dense(f"fc{i}", src, n, gain=gain, bias=bias)], theta=0.5)
    return b.readout(src)


def cuba_net(timesteps: int = 12, seed: int = 6) -> ir.Graph:
    """Current-based neurons (synaptic current decays 1/2 and 3/4, membrane 1/4), bias-free synapses, a conv
    layer and a skip into the last layer: Loihi's u is the synaptic current."""
    b = Builder((2, 6, 6), seed, timesteps)
    a = b.cuba("cuba0", [b.conv("conv0", "input", 4, 3, gain=1.2)], syn_decay=0.5, theta=0.4)
    a = b.cuba("cuba1", [b.dense("fc1", a, 24, gain=1.5)], syn_decay=0.75, decay=0.5, gain=0.5)
    a = b.cuba("cuba2", [b.dense("fc2", a, 16, gain=1.5), b.dense("skip2", "cuba0", 16, gain=0.8)], syn_decay=0.5)
    return b.readout(a)


def image_dense(timesteps: int = 8, seed: int = 5) -> ir.Graph:
    """An image read directly by a dense layer (flatten right after the input, as in an S2NN MLP)."""
    b = Builder((2, 4, 4), seed, timesteps)
    flat = b._add(ir.Flatten("flat", (ir.Edge("input"),)), (32,))
    src = b.lif("lif0", [b.dense("fc0", flat, 24, gain=1.5, bias=0.2)])
    src = b.lif("lif1", [b.dense("fc1", src, 12, gain=1.5, bias=0.2)])
    return b.readout(src)


def conv_chain(timesteps: int = 6, seed: int = 1) -> ir.Graph:
    """Stride, padding, dilation, groups, average and max pooling, flatten, dense (LOIHI.md 5's conv case)."""
    b = Builder((2, 9, 7), seed, timesteps)
    a = b.lif("lif0", [b.conv("conv0", "input", 4, 3, stride=(1, 2), padding=(1, 0), gain=2.0, bias=0.2)])
    a = b.lif("lif1", [b.conv("conv1", a, 6, 3, stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=2,
                              gain=2.0, bias=0.1)])
    a = b.lif("lif2", [b.pool("pool2", a, 2, "sum")], theta=1.5)
    a = b.lif("lif3", [b.conv("conv3", b.maxpool("max3", b.lif("lif2b", [b.conv("conv2b", "input", 4, 3,
                                                                                 gain=2.0)]), 2), 6, 1,
                              padding=(0, 0), gain=2.0)], theta=0.3)
    a = b.lif("lif4", [b.dense("fc4", "lif2", 10, gain=2.0), b.dense("fc4b", a, 10, gain=2.0)])
    return b.readout(a)


def mlf_net(timesteps: int = 6, seed: int = 2, levels: tuple[float, ...] = (0.6, 1.6, 2.6)) -> ir.Graph:
    """Lowered MLF layers: K level populations share a synapse; consumers get one synapse copy per level."""
    b = Builder((1, 6, 6), seed, timesteps)
    syn = b.conv("conv0", "input", 4, 3, gain=3.0, bias=0.3)
    lv = [b.lif(f"mlf0.level{k}", [syn], theta=v) for k, v in enumerate(levels)]
    w = b.rng.normal(0, 0.4, (5, 4, 3, 3))
    copies = [b._add(ir.Conv2d(f"conv1.from.{n}", (ir.Edge(n),), "conv1", weight=w, padding=(1, 1)), (5, 6, 6))
              for n in lv]
    lv2 = [b.lif(f"mlf1.level{k}", copies, theta=v) for k, v in enumerate(levels)]
    dense = [b.dense(f"fc.from.{n}", n, 8, gain=2.0) for n in lv2]
    w2 = b.nodes[-1].weight  # type: ignore[attr-defined]
    for name in dense[:-1]:
        i = next(i for i, n in enumerate(b.nodes) if n.name == name)
        b.nodes[i] = b.nodes[i].replace(weight=w2)
    return b.readout(b.lif("out", dense, theta=0.8))


def residual_net(timesteps: int = 6, seed: int = 3) -> ir.Graph:
    """Spiking ResNet blocks: identity skip, conv-shortcut population (non-adjacent chain link), dense skip."""
    b = Builder((2, 6, 6), seed, timesteps)
    x = b.lif("stem", [b.conv("stem.conv", "input", 4, 3, gain=2.0, bias=0.2)])
    m = b.lif("b1.lif1", [b.conv("b1.conv1", x, 4, 3, gain=2.0)])
    o = b.lif("b1.lif2", [b.conv("b1.conv2", m, 4, 3, gain=1.5), b.identity("b1.id", x)], theta=0.6)
    m2 = b.lif("b2.lif1", [b.conv("b2.conv1", o, 6, 3, stride=(2, 2), gain=2.0)])
    sc = b.lif("b2.sc", [b.conv("b2.sc.conv", o, 6, 1, stride=(2, 2), padding=(0, 0), gain=2.0)])
    o2 = b.lif("b2.lif2", [b.conv("b2.conv2", m2, 6, 3, gain=1.5), b.identity("b2.id", sc),
                           b.conv("b2.skip", x, 6, 3, stride=(2, 2), gain=0.8)])
    d1 = b.lif("fc1", [b.dense("fc1.syn", o2, 12, gain=2.0)])
    d2 = b.lif("fc2", [b.dense("fc2.syn", d1, 12, gain=2.0), b.dense("fc2.skip", o2, 12, gain=1.0)])
    return b.readout(d2)


def stress_graph(timesteps: int = 12, seed: int = 4, fan_in: int = 600) -> ir.Graph:
    """A fixed-point graph that wraps u (|A| up to 152k > 2^17) and saturates v (vDecay 1, strong drive)."""
    rng = np.random.default_rng(seed)
    w1 = 2 * rng.integers(-127, 128, (16, fan_in)).astype(float)
    w1[:8] = 2 * rng.integers(100, 128, (8, fan_in))
    w1[8:12] = -2 * rng.integers(100, 128, (4, fan_in))
    w2 = 2 * rng.integers(-127, 128, (8, 16)).astype(float)
    from snncompile.targets.loihi.ops import Encode
    nodes: list[ir.Op] = [
        ir.Input("input", (), shape=(fan_in,)),
        Encode("input.encode", (ir.Edge("input"),)),
        ir.Dense("fc0", (ir.Edge("input.encode"),), weight=w1),
        LoihiLIF("lif0", (ir.Edge("fc0", 1),), threshold=131071, i_decay=4096, v_decay=1,
                 bias=rng.integers(-4096, 4096, 16).astype(float), scale=np.ones(16), period=timesteps, phase=1),
        ir.Dense("fc1", (ir.Edge("lif0"),), weight=w2),
        LoihiLIF("lif1", (ir.Edge("fc1", 1),), threshold=300, i_decay=1024, v_decay=512,
                 bias=rng.integers(-100, 100, 8).astype(float), scale=np.ones(8), period=timesteps, phase=2),
    ]
    meta = {"layers": [["lif0"], ["lif1"]], "latency": 2, "period": timesteps, "timesteps": timesteps,
            "input": {"kind": "binary", "scale": 1.0, "low": 0, "high": 1, "bits": 0},
            "ledger": {n: {"vth": 1, "step": 1.0, "voltage_step": 1 / 64, "threshold": 1.0} for n in ("lif0", "lif1")},
            "overflow": []}
    graph = ir.Graph(tuple(nodes), ("lif1",), {"timesteps": timesteps, "loihi": meta})
    ir.verify_or_raise(graph)
    return graph


def shortcut_pool_net(timesteps: int = 6, seed: int = 8) -> ir.Graph:
    """A downsampling block whose strided 1x1 conv shortcut skips a layer, then avgpool -> dense and a global
    avgpool -> dense head (the ResNet-19 head): pooling folded into the dense weights (loihi-fold-pool)."""
    b = Builder((2, 8, 8), seed, timesteps)
    x = b.lif("stem", [b.conv("stem.conv", "input", 4, 3, gain=2.0, bias=0.2)])
    m = b.lif("b1.lif1", [b.conv("b1.conv1", x, 6, 3, stride=(2, 2), gain=2.0)])
    o = b.lif("b1.lif2", [b.conv("b1.conv2", m, 6, 3, gain=1.5),
                          b.conv("b1.sc", x, 6, 1, stride=(2, 2), padding=(0, 0), gain=1.5)], theta=0.6)
    p = b.lif("pool.lif", [b.conv("pool.conv", b.pool("pool", o, 2), 6, 1, padding=(0, 0), gain=3.0)], theta=0.3)
    g = b.pool("gap", p, 2)
    d = b.lif("fc", [b.dense("fc.syn", g, 12, gain=3.0, bias=0.2)], theta=0.3)
    return b.readout(d)


def mlf_skip_net(timesteps: int = 6, seed: int = 9, levels: tuple[float, ...] = (0.5, 1.5)) -> ir.Graph:
    """Stacked MLF levels on both ends of strided conv skips (a DS-ResNet shortcut): every skip runs between
    member blocks at non-zero offsets of its source and destination layers."""
    b = Builder((1, 8, 8), seed, timesteps)
    syn = b.conv("conv0", "input", 3, 3, gain=3.0, bias=0.3)
    lv0 = [b.lif(f"mlf0.level{k}", [syn], theta=v) for k, v in enumerate(levels)]
    w1 = b.rng.normal(0, 0.6, (4, 3, 3, 3))
    c1 = [b._add(ir.Conv2d(f"conv1.from.{n}", (ir.Edge(n),), "conv1", weight=w1, padding=(1, 1)), (4, 8, 8))
          for n in lv0]
    lv1 = [b.lif(f"mlf1.level{k}", c1, theta=v) for k, v in enumerate(levels)]
    w2, ws = b.rng.normal(0, 0.5, (5, 4, 3, 3)), b.rng.normal(0, 0.8, (5, 3, 1, 1))
    c2 = [b._add(ir.Conv2d(f"conv2.from.{n}", (ir.Edge(n),), "conv2", weight=w2, stride=(2, 2), padding=(1, 1)),
                 (5, 4, 4)) for n in lv1]
    sc = [b._add(ir.Conv2d(f"sc.from.{n}", (ir.Edge(n),), "sc", weight=ws, stride=(2, 2)), (5, 4, 4)) for n in lv0]
    lv2 = [b.lif(f"mlf2.level{k}", c2 + sc, theta=v) for k, v in enumerate(levels)]
    return b.readout(b.lif("out", [b.dense(f"fc.from.{n}", n, 6, gain=2.0) for n in lv2], theta=0.5))
