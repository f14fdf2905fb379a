"""The netx chain of a fixed-point graph: stacked layers, their chain synapses, and the skip synapses.

Layer i (chain index, input 0) stacks its member populations: rank 1 as (K·N,), rank 3 as (K·C, H, W),
member k at flat offset k·size (torch C-major order). Its chain synapse merges every synapse from a
member of layer i−1 into one block matrix / block conv (grouped convs expanded to groups = 1 when
stacked); a conv layer with no such synapse gets an all-zero conv of a fitting geometry. Every other
synapse becomes a skip record between member blocks plus its extra delay (hop − 1), kept structural: a conv
skip is its kernel and geometry (never an N x N matrix), a dense skip its weight matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from snncompile import ir
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.targets.loihi.structure import layers_of


@dataclass
class Skip:
    """A synapse from member block `src_offset` (flat) of layer `src` to block `dst_offset` of layer `dst`:
    kind "dense" (weight [block out, block in]) or "conv" (weight: the kernel; `conv`: stride, padding,
    dilation, groups; `in_shape` / `out_shape`: the member blocks' shapes)."""

    src: int
    dst: int
    src_offset: int
    dst_offset: int
    delay: int
    weight: np.ndarray
    kind: str = "dense"
    conv: dict[str, Any] = field(default_factory=dict)
    in_shape: ir.Shape = ()
    out_shape: ir.Shape = ()


def skip_record(syn: ir.Op, src: int, dst: int, src_offset: int, dst_offset: int, delay: int,
                in_shape: ir.Shape, out_shape: ir.Shape) -> Skip:
    """The skip record of a synapse: a conv keeps its kernel and geometry."""
    if isinstance(syn, ir.Conv2d):
        geometry = {"stride": syn.stride, "padding": syn.padding, "dilation": syn.dilation, "groups": syn.groups}
        return Skip(src, dst, src_offset, dst_offset, delay, np.asarray(syn.weight), "conv", geometry,
                    tuple(in_shape), tuple(out_shape))
    return Skip(src, dst, src_offset, dst_offset, delay, dense_matrix(syn, in_shape), "dense", {},
                tuple(in_shape), tuple(out_shape))


@dataclass
class NetxLayer:
    index: int
    members: list[LoihiLIF]
    member_shape: ir.Shape
    kind: str = "dense"
    weight: np.ndarray | None = None
    conv: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(np.prod(self.member_shape))

    @property
    def shape(self) -> ir.Shape:
        k = len(self.members)
        return (k * self.member_shape[0], *self.member_shape[1:])


def _source(graph: ir.Graph, syn: ir.Op) -> str:
    node = graph.node(syn.inputs[0].src)
    if isinstance(node, ir.Flatten):
        node = graph.node(node.inputs[0].src)
    return node.inputs[0].src if node.kind == "encode" else node.name


def dense_matrix(syn: ir.Op, in_shape: ir.Shape) -> np.ndarray:
    """A synapse as a matrix [out flat, in flat] in torch C-major order (conv: by convolving a basis; small
    graphs and tests only: O(N²) memory)."""
    if isinstance(syn, ir.Dense):
        return np.asarray(syn.weight)
    n = int(np.prod(in_shape))
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *in_shape)
    out = F.conv2d(basis, torch.from_numpy(np.array(syn.weight)), None, syn.stride, syn.padding,  # type: ignore[attr-defined]
                   syn.dilation, syn.groups)  # type: ignore[attr-defined]
    return out.reshape(n, -1).T.numpy()


def ungroup(w: np.ndarray, groups: int) -> np.ndarray:
    """A grouped conv weight [Co, Ci/g, kh, kw] as the equivalent groups = 1 weight [Co, Ci, kh, kw]."""
    if groups == 1:
        return w
    co, cig = w.shape[:2]
    full = np.zeros((co, cig * groups, *w.shape[2:]))
    per = co // groups
    for g in range(groups):
        full[g * per:(g + 1) * per, g * cig:(g + 1) * cig] = w[g * per:(g + 1) * per]
    return full


def zero_geometry(prev: ir.Shape, out: ir.Shape) -> dict[str, Any]:
    """Stride-1 kernel/padding taking a (H, W) map to the output size, for an all-zero chain conv."""
    kernel, padding = [], []
    for a, b in zip(prev[1:], out[1:], strict=True):
        if b <= a:
            kernel.append(a - b + 1)
            padding.append(0)
        else:
            kernel.append(1 + (b - a) % 2)
            padding.append((b - a + (b - a) % 2) // 2)
    return {"stride": (1, 1), "padding": tuple(padding), "dilation": (1, 1), "groups": 1, "kernel": tuple(kernel)}


def plan_netx(graph: ir.Graph) -> tuple[list[NetxLayer], list[Skip]]:
    """Chain layers 1..L and the skip synapses of a fixed-point graph."""
    (inp,) = graph.of_kind(ir.Input)
    member_of = {inp.name: (0, 0)}
    layers = []
    for i, names in enumerate(layers_of(graph), start=1):
        members = [graph.node(n) for n in names]
        layers.append(NetxLayer(i, members, graph.shapes[names[0]]))  # type: ignore[arg-type]
        member_of.update({n: (i, k) for k, n in enumerate(names)})
    shape_of = {0: tuple(inp.shape), **{la.index: la.shape for la in layers}}
    skips: list[Skip] = []
    for layer in layers:
        prev_shape = shape_of[layer.index - 1]
        chain: list[tuple[int, int, ir.Op]] = []
        for a, pop in enumerate(layer.members):
            for e in pop.inputs:
                syn = graph.node(e.src)
                src_layer, b = member_of[_source(graph, syn)]
                if src_layer == layer.index - 1 and e.delay == 1 and _fits(layer, chain, a, b, syn):
                    chain.append((a, b, syn))
                    continue
                src_size = int(np.prod(graph.shapes[_source(graph, syn)]))
                skips.append(skip_record(syn, src_layer, layer.index, b * src_size, a * layer.size, e.delay - 1,
                                         graph.shapes[syn.inputs[0].src], layer.member_shape))
        prev_member = int(np.prod(inp.shape)) if layer.index == 1 else layers[layer.index - 2].size
        _chain_weight(layer, chain, prev_shape, prev_member, graph)
    return layers, skips


def _fits(layer: NetxLayer, chain: list[tuple[int, int, ir.Op]], a: int, b: int, syn: ir.Op) -> bool:
    """Whether `syn` can join the chain synapse: a free block, and the chain conv's geometry for convs."""
    if any(x == a and y == b for x, y, _ in chain):
        return False
    if not chain or isinstance(syn, ir.Dense):
        return True
    first = chain[0][2]
    return all(getattr(first, f) == getattr(syn, f) for f in ("stride", "padding", "dilation")) \
        and first.weight.shape[2:] == syn.weight.shape[2:]  # type: ignore[attr-defined]


def _chain_weight(layer: NetxLayer, chain: list[tuple[int, int, ir.Op]], prev_shape: ir.Shape,
                  block_in: int, graph: ir.Graph) -> None:
    k_out, size_out = len(layer.members), layer.size
    if len(layer.member_shape) == 1:
        w = np.zeros((k_out * size_out, int(np.prod(prev_shape))))
        for a, b, syn in chain:
            w[a * size_out:(a + 1) * size_out, b * block_in:(b + 1) * block_in] = syn.weight  # type: ignore[attr-defined]
        layer.kind, layer.weight = "dense", w
        return
    layer.kind = "conv"
    if not chain:
        geo = zero_geometry(prev_shape, layer.shape)
        layer.weight = np.zeros((layer.shape[0], prev_shape[0], *geo.pop("kernel")))
        layer.conv = geo
        return
    first = chain[0][2]
    layer.conv = {"stride": first.stride, "padding": first.padding, "dilation": first.dilation,  # type: ignore[attr-defined]
                  "groups": first.groups}  # type: ignore[attr-defined]
    if len(chain) == 1 and k_out == 1 and prev_shape[0] == first.weight.shape[1] * first.groups:  # type: ignore[attr-defined]
        layer.weight = np.asarray(first.weight)  # type: ignore[attr-defined]
        return
    co = layer.member_shape[0]
    ci = graph.shapes[first.inputs[0].src][0]
    w = np.zeros((k_out * co, prev_shape[0], *first.weight.shape[2:]))  # type: ignore[attr-defined]
    for a, b, syn in chain:
        w[a * co:(a + 1) * co, b * ci:(b + 1) * ci] = ungroup(syn.weight, syn.groups)  # type: ignore[attr-defined]
    layer.weight, layer.conv["groups"] = w, 1
