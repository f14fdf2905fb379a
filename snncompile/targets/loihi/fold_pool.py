"""loihi-fold-pool: average/sum pooling between a population and a conv or dense synapse is folded into its weights.

Loihi has no pooling stage: a synapse reads spikes. With P the pooling (a fixed linear map, avg = sum · 1/k) and
S the synapse that reads it, S(P(x)) is one synapse of x:
  conv  S = conv(k_c, stride s_c, padding p_c), P = pool(k_p, stride s_p, padding 0), k_p ≤ s_p:
        conv(k_p + (k_c − 1)·s_p, stride s_c·s_p, padding p_c·s_p),  W'[., ., s_p·j + u] = W[., ., j] · w_p
        (w_p = 1/(k_ph·k_pw) for avg, 1 for sum; zero padding of P's output reads only padding of x)
  dense S = W · flatten(P(x)):  W' = W · P  (computed as the adjoint of P applied to the rows of W)
Exact in real arithmetic; in float the sums regroup (~1e-16 relative), and the quantizer then sees W' (the
1/k factor inside the weights, as Loihi computes it). A pooling whose fold would not reproduce S(P(x)) (pool
padding, overlapping windows, dilated conv) is left as it is, and the structure rules report it (SNC601).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from snncompile import ir
from snncompile.passes.base import Pass, PassContext
from snncompile.passes.lower_common import NameSource
from snncompile.sim.float_ops import FLOAT_OPS


def _pool_weight(pool: ir.Pool2d) -> float:
    return 1.0 if pool.mode == "sum" else 1.0 / (pool.kernel[0] * pool.kernel[1])


def _foldable_into_conv(pool: ir.Pool2d, conv: ir.Conv2d, in_shape: ir.Shape) -> bool:
    if pool.padding != (0, 0) or conv.dilation != (1, 1):
        return False
    for k, s, p, size in zip(pool.kernel, pool.stride, conv.padding, in_shape[1:], strict=True):
        if k > s or (p and (size - k) % s):
            return False
    return True


def fold_into_conv(pool: ir.Pool2d, conv: ir.Conv2d, src: ir.Edge, in_shape: ir.Shape) -> ir.Conv2d | None:
    """conv(pool(x)) as one conv of x, or None when the fold is not exact (see the module docstring)."""
    if not _foldable_into_conv(pool, conv, in_shape):
        return None
    co, cig, kh, kw = conv.weight.shape
    (ph, pw), (sh, sw) = pool.kernel, pool.stride
    weight = np.zeros((co, cig, ph + (kh - 1) * sh, pw + (kw - 1) * sw))
    scaled = conv.weight * _pool_weight(pool)
    for j in range(kh):
        for i in range(kw):
            weight[:, :, j * sh:j * sh + ph, i * sw:i * sw + pw] += scaled[:, :, j:j + 1, i:i + 1]
    folded = cast(ir.Conv2d, conv.replace(  # replace() keeps the node's type
        inputs=(src,), weight=weight, stride=(conv.stride[0] * sh, conv.stride[1] * sw),
        padding=(conv.padding[0] * sh, conv.padding[1] * sw)))
    return folded if _same_map(pool, conv, folded, in_shape) else None


def _same_map(pool: ir.Pool2d, conv: ir.Conv2d, folded: ir.Conv2d, in_shape: ir.Shape) -> bool:
    """A numeric probe on one random input: both forms give the same output shape and values (to rounding)."""
    x = torch.rand((1, 1, *in_shape), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    want = FLOAT_OPS[ir.Conv2d](conv.replace(bias=None), [FLOAT_OPS[ir.Pool2d](pool, [x])])
    got = FLOAT_OPS[ir.Conv2d](folded.replace(bias=None), [x])
    return want.shape == got.shape and bool(torch.allclose(want, got, rtol=1e-9, atol=1e-12))


def fold_into_dense(pool: ir.Pool2d, dense: ir.Dense, in_shape: ir.Shape) -> np.ndarray:
    """W · flatten(pool(x)) as W' · flatten(x): W' = W · P, by back-propagating the rows of W through P."""
    x = torch.zeros((dense.weight.shape[0], *in_shape), dtype=torch.float64, requires_grad=True)
    y = FLOAT_OPS[ir.Pool2d](pool, [x.unsqueeze(0)])[0].flatten(1)
    (grad,) = torch.autograd.grad(y, x, grad_outputs=torch.from_numpy(np.array(dense.weight)))
    return grad.reshape(dense.weight.shape[0], -1).numpy()


def _through_flatten(graph: ir.Graph, syn: ir.Op) -> tuple[ir.Op | None, ir.Op]:
    node = graph.node(syn.inputs[0].src)
    if isinstance(syn, ir.Dense) and isinstance(node, ir.Flatten):
        return node, graph.node(node.inputs[0].src)
    return None, node


@dataclass(frozen=True)
class LoihiFoldPool(Pass):
    name = "loihi-fold-pool"
    summary = "average/sum pooling that feeds a conv or dense synapse is folded into its weights"

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        names, shapes = NameSource(graph), graph.shapes
        replaced: dict[str, list[ir.Op]] = {}
        for syn in graph.of_kind(ir.Conv2d, ir.Dense):
            flatten, pool = _through_flatten(graph, syn)
            if not isinstance(pool, ir.Pool2d) or pool.mode not in ("avg", "sum"):
                continue
            delay = sum(n.inputs[0].delay for n in (syn, pool, *(() if flatten is None else (flatten,))))
            src = ir.Edge(pool.inputs[0].src, delay)
            in_shape = shapes[src.src]
            new: list[ir.Op]
            if isinstance(syn, ir.Conv2d):
                folded = fold_into_conv(pool, syn, src, in_shape)
                if folded is None:
                    continue
                new = [folded]
            else:
                flat = ir.Flatten(names.fresh(f"{src.src}.flat"), (src,), pool.origin)
                dense = cast(ir.Dense, syn)  # of_kind(Conv2d, Dense) and not a Conv2d
                new = [flat, syn.replace(inputs=(ir.Edge(flat.name),), weight=fold_into_dense(pool, dense, in_shape))]
            replaced[syn.name] = new
            ctx.note(f"%{pool.name} ({pool.mode} {pool.kernel[0]}x{pool.kernel[1]}) folded into %{syn.name}")
        if not replaced:
            return graph
        nodes = [m for n in graph.nodes for m in replaced.get(n.name, [n])]
        return graph.with_nodes(_without_unread(nodes, graph.outputs))


def _without_unread(nodes: list[ir.Op], outputs: tuple[str, ...]) -> list[ir.Op]:
    """Drop pooling and flatten nodes that nothing reads any more (repeatedly: a flatten may read a pool)."""
    while True:
        read = {e.src for n in nodes for e in n.inputs} | set(outputs)
        kept = [n for n in nodes if n.name in read or not isinstance(n, (ir.Pool2d, ir.Flatten))]
        if len(kept) == len(nodes):
            return kept
        nodes = kept
