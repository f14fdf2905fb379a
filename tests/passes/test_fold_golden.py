"""fold-norm golden before/after IR text, one small graph per rewrite rule (each also checked for exactness)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.passes import FoldNorm, PassContext, Pipeline
from snncompile.verification.compare import compare

Golden = Callable[[str, str], None]
C, HW = 3, 5
S3 = (C, HW, HW)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class G:
    """Tiny deterministic graph builder: every array comes from one seeded RNG."""

    def __init__(self, shape: tuple[int, ...] = (2, HW, HW), seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[ir.Op] = [ir.Input("x", (), shape=shape)]

    def __call__(self, cls: type[ir.Op], name: str, *inputs: str | ir.Edge, **fields: object) -> str:
        self.nodes.append(cls(name=name, inputs=inputs, origin=f"model.{name}", **fields))  # type: ignore[arg-type]
        return name

    def conv(self, name: str, src: str | ir.Edge, c_in: int = 2, pad: int = 1, bias: bool = True) -> str:
        return self(ir.Conv2d, name, src, weight=self.rng.normal(0, 0.6, (C, c_in, 3, 3)), padding=(pad, pad),
                    bias=self.rng.normal(0, 0.2, C) if bias else None)

    def bn(self, name: str, src: str, c: int = C, eps_inside: bool = True, gamma: object = None) -> str:
        weight = self.rng.uniform(0.5, 1.5, c) if gamma is None else np.asarray(gamma, dtype=float)
        return self(ir.BatchNorm, name, src, mean=self.rng.normal(0, 0.3, c), var=self.rng.uniform(0.2, 1.5, c),
                    weight=weight, bias=self.rng.normal(0.2, 0.3, c), eps=0.01, scale=0.5, eps_inside=eps_inside)

    def psp(self, name: str, src: str, bias: bool = False, c: int = C) -> str:
        return self(ir.PSPNorm, name, src, moment2=self.rng.uniform(0.3, 2, c),
                    weight=self.rng.uniform(0.5, 1.5, c) * np.array([1, -1, 1][:c] + [1] * (c - 3)),
                    bias=self.rng.normal(0, 0.3, c) if bias else None)

    def lif(self, name: str, *srcs: str | ir.Edge, shape: tuple[int, ...] = S3) -> str:
        return self(ir.LIF, name, *srcs, decay=np.full(shape, 0.5), threshold=np.full((1, *shape), 0.5))

    def mpbn(self, name: str, *srcs: str | ir.Edge, gamma: object, bias: object = 0.3, mean: object = None,
             elementwise: bool = False, reset: str = "zero") -> str:
        """Channel-wise: gamma, bias, mean per channel (lists); element-wise: full-shape gamma."""
        p = S3 if elementwise else (C, 1, 1)

        def shaped(v: object) -> np.ndarray:
            v = np.asarray(v, dtype=float)
            return np.broadcast_to(v if v.ndim == 3 or v.ndim == 0 else v.reshape(-1, 1, 1), p)
        mean = self.rng.normal(0, 0.3, p) if mean is None else shaped(mean)
        return self(ir.MPBNLIF, name, *srcs, decay=np.full(S3, 0.25), mean=mean, var=self.rng.uniform(0.3, 1.5, p),
                    weight=shaped(gamma), bias=shaped(bias), reset=reset)

    def graph(self, *outputs: str) -> ir.Graph:
        graph = ir.Graph(tuple(self.nodes), outputs)
        ir.verify_or_raise(graph)
        return graph


def check(golden: Golden, name: str, graph: ir.Graph, spikes: bool = False) -> ir.Graph:
    """Fold, assert zero spike mismatches on a random input, and compare the text with the golden file."""
    ctx = PassContext()
    folded, records = Pipeline((FoldNorm(),)).run(graph, ctx)
    rng = np.random.default_rng(1)
    shape = (24, 3, *graph.node("x").shape)
    x = (rng.random(shape) < 0.3).astype(float) if spikes else rng.normal(0, 1, shape)
    result = compare(graph, folded, x)
    assert not result.near_tie() and result.total_mismatches == 0, result
    text = ["before:", ir.print_graph(graph), "after:", ir.print_graph(folded), "notes:"]
    text += [f"  {note}" for note in records[0].notes]
    text += [f"  {d.render()}" for d in ctx.diagnostics]
    golden(f"fold_{name}.txt", "\n".join(text))
    return folded


def test_f1_conv_bn_eps_inside(golden: Golden) -> None:
    g = G()
    g.lif("lif", g.bn("bn", g.conv("conv", "x"), eps_inside=True, gamma=[1.2, -0.7, 0.0]))
    check(golden, "f1_conv_bn_eps_inside", g.graph("lif"))


def test_f1_dense_bn_eps_outside(golden: Golden) -> None:
    g = G()
    d = g(ir.Dense, "fc", g(ir.Flatten, "flat", "x"), weight=g.rng.normal(0, 0.3, (6, 50)))
    g.lif("lif", g.bn("bn", d, c=6, eps_inside=False), shape=(6,))
    folded = check(golden, "f1_dense_bn_eps_outside", g.graph("lif"))
    assert folded.node("fc").bias is not None


def test_f1_conv_pspnorm(golden: Golden) -> None:
    g = G()
    g.lif("lif", g.psp("psp", g.conv("conv", "x", bias=False)))
    check(golden, "f1_conv_pspnorm", g.graph("lif"))


def test_f2_add_offset_once_on_zero_delay_operand(golden: Golden) -> None:
    g = G()
    add = g(ir.Add, "add", ir.Edge(g.conv("a", "x"), 1), g.conv("b", "x"))
    g.lif("lif", g.bn("bn", add))
    folded = check(golden, "f2_add", g.graph("lif"))
    assert folded.node("a").bias is not None and folded.node("b").bias is not None


def test_f3_identity_and_pools(golden: Golden) -> None:
    g = G(shape=(2, 6, 6))
    pool = g(ir.Pool2d, "pool", g(ir.Identity, "drop", g.conv("conv", "x")), mode="sum", kernel=(2, 2),
             stride=(2, 2))
    h = g.lif("lif", g.bn("bn", pool), shape=(C, 3, 3))
    mp = g(ir.MaxPool2d, "maxpool", g.conv("conv2", h, c_in=C), kernel=(3, 3), stride=(1, 1), padding=(1, 1))
    psp = g(ir.PSPNorm, "psp", mp, moment2=np.ones(C), weight=np.array([0.5, 1.0, 2.0]))  # a ≥ 0: max commutes
    g.lif("lif2", psp, shape=(C, 3, 3))
    check(golden, "f3_identity_pools", g.graph("lif2"))


def test_f4_mpbn_sign_through_bn(golden: Golden) -> None:
    g = G()
    g.mpbn("mpbn", g.bn("bn", g.conv("conv", "x")), gamma=[1.0, -0.8, 0.6])
    folded = check(golden, "f4_mpbn_through_bn", g.graph("mpbn"))
    assert folded.node("mpbn").gain is None


def test_f5_shared_producers_are_copied(golden: Golden) -> None:
    g = G()
    stem = g.conv("stem", "x")
    a = g.lif("lif1", g.psp("psp1", stem))
    stream = g(ir.Add, "add1", g.conv("conv1", a, c_in=C), stem)
    g.lif("lif2", g.psp("psp2", stream, bias=True))
    g(ir.Add, "add2", g.conv("conv2", "lif2", c_in=C), stream)
    g.lif("out", g.bn("bn", "add2"))
    check(golden, "f5_copies", g.graph("out"))


def test_f6_fold_into_readers(golden: Golden) -> None:
    g = G()
    h = g.lif("lif0", g(ir.Conv2d, "conv0", g.psp("psp_in", "x", c=2), weight=g.rng.normal(0, 0.8, (C, 2, 3, 3)),
                        padding=(1, 1)))
    h = g.lif("lif1", g.psp("psp_gain", h))
    h = g.lif("lif2", g.conv("conv_valid", g.bn("bn_valid", h), c_in=C, pad=0), shape=(C, 3, 3))
    dense = g(ir.Dense, "fc", g(ir.Flatten, "flat", g.bn("bn_flat", h)), weight=g.rng.normal(0, 0.4, (4, 27)))
    g(ir.Readout, "readout", g.lif("lif3", dense, shape=(4,)), weight=g.rng.normal(size=(2, 4)))
    check(golden, "f6_readers", g.graph("readout"))


def test_f7_mpbn_positive_gamma(golden: Golden) -> None:
    g = G()
    g.mpbn("mpbn", g.conv("conv", "x"), gamma=[1.0, 0.5, 2.0], mean=[1.0, 0.8, 1.2])
    check(golden, "f7_mpbn_thresholds", g.graph("mpbn"))


def test_f8_mpbn_negates_rows_of_shared_conv(golden: Golden) -> None:
    g = G()
    conv = g.conv("conv", "x")
    g.mpbn("mpbn", conv, gamma=[1.0, -0.8, -1.5])
    g.lif("other", conv)
    folded = check(golden, "f8_mpbn_negate_rows", g.graph("mpbn", "other"))
    assert folded.node("mpbn").gain is None and "conv_copy1" in folded


def test_f9_mpbn_gain(golden: Golden) -> None:
    g = G()
    gamma = np.where(g.rng.random(S3) < 0.5, -1.0, 1.0) * g.rng.uniform(0.5, 1.5, S3)
    h = g.mpbn("mpbn_elem", g.conv("conv", "x"), gamma=gamma, elementwise=True)
    g.mpbn("mpbn_skip", g.conv("conv2", h, c_in=C), ir.Edge(h, 1), gamma=[-1.0, 0.7, -0.4])
    folded = check(golden, "f9_mpbn_gain", g.graph("mpbn_skip"))
    assert folded.node("mpbn_elem").gain is not None and folded.node("mpbn_skip").gain is not None


def test_f10_mpbn_constant_neurons(golden: Golden) -> None:
    g = G()
    h = g.mpbn("rows", g.conv("conv", "x"), gamma=[0.0, 0.0, 1.0], bias=[[[0.9]], [[0.1]], [[0.3]]])
    gamma = np.ones(S3)
    gamma[0, 1:3, 1:3] = 0.0
    g.mpbn("gain", g.conv("conv2", h, c_in=C), gamma=gamma, bias=0.9, elementwise=True)
    folded = check(golden, "f10_mpbn_constant", g.graph("gain"))
    assert folded.node("rows").gain is None and folded.node("gain").threshold.min() < 0


def test_mpbn_soft_reset_with_unit_threshold(golden: Golden) -> None:
    g = G()
    g.mpbn("mpbn", g.conv("conv", "x"), gamma=[1.0, -0.8, 0.0], bias=[0.5, 0.5, 0.9], mean=1.0,
           reset="subtract")
    folded = check(golden, "mpbn_soft_reset_unit_threshold", g.graph("mpbn"))
    assert folded.node("mpbn").reset == "subtract"
