"""Reference semantics of a NIR graph, straight from its ODE parameters (forward Euler at dt): the oracle of
`--check` for .nir sources, independent of the NIR → IR conversion.

Per step t, every node in topological order reads the sum of its input edges, I[t]:
    LIF      v ← v + (dt/τ)·(v_leak − v + r·I);  z = [v > v_thr] (">=" under spikingjelly);  v ← v_reset where z
    IF       v ← v + dt·r·I;  z, reset as LIF          LI  v ← v + (dt/τ)·(v_leak − v + r·I), output v
    I        v ← v + dt·r·I, output v                  Threshold  z = [I > θ]
    CubaLIF  i ← i + (dt/τ_s)·(−i + w_in·I);  v ← v + (dt/τ_m)·(v_leak − v + r·i);  z, reset as LIF
    Delay    y[t] = I[t − τ/dt] (zeros before)
    norse convention: τ ← τ/dt (norse#411), LIF r ← 1, IF v ← v + I, CubaLIF i_n = i + I;
             v ← v + (dt/τ_m)·(v_leak − v + i_n);  i ← i_n − (dt/τ_s)·i_n
Affine/Linear/Scale/Conv2d/AvgPool2d (zero padding counted)/SumPool2d/Flatten act on each step.
"""

from __future__ import annotations

from graphlib import TopologicalSorter
from typing import Any, cast

import nir
import numpy as np
import torch
import torch.nn.functional as F

from snncompile import ir
from snncompile.frontend.nir.nodes import CONVENTIONS, RESETS, Convention, conv_padding, pair
from snncompile.ir.ops_ext import LIFExt
from snncompile.sim import simulate
from snncompile.verification.check import CheckReport, LayerAgreement, readout_tolerance
from snncompile.verification.compare import compare

Tensor = torch.Tensor


def _t(value: object, like: Tensor) -> Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=like.dtype)


def _shaped(value: object, like: Tensor) -> Tensor:
    """A per-neuron parameter broadcast over [B, *shape] (flat arrays are reshaped to the sample shape)."""
    p = _t(value, like)
    return p.reshape(like.shape[1:]) if p.numel() == like[0].numel() else p


def _stateless(node: nir.NIRNode, x: Tensor) -> Tensor:
    if isinstance(node, nir.Affine):
        return F.linear(x, _t(node.weight, x), _t(node.bias, x))
    if isinstance(node, nir.Linear):
        return F.linear(x, _t(node.weight, x))
    if isinstance(node, nir.Scale):
        return x * _shaped(node.scale, x)
    if isinstance(node, nir.Conv2d):
        return F.conv2d(x, _t(node.weight, x), _t(node.bias, x), pair(node.stride), conv_padding(node, "conv"),
                        pair(node.dilation), int(np.asarray(node.groups)))
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        kernel = pair(node.kernel_size)
        y = F.avg_pool2d(x, kernel, pair(node.stride), pair(node.padding), count_include_pad=True)
        return y * float(np.prod(kernel)) if isinstance(node, nir.SumPool2d) else y
    if isinstance(node, nir.Flatten):
        rank = x.dim() - 1
        return x.flatten(node.start_dim % rank + 1, node.end_dim % rank + 1) if rank > 1 else x
    raise NotImplementedError(f"no reference semantics for {type(node).__name__}")


class _Neuron:
    """The state and one Euler step of a LIF, IF, LI, I, Threshold or CubaLIF node."""

    def __init__(self, node: nir.NIRNode, dt: float, conv: Convention, reset: str | None = None) -> None:
        self.node, self.dt, self.conv, self.reset = node, dt, conv, reset
        self.v: Tensor | None = None
        self.i: Tensor | None = None

    def _tau(self, value: object, like: Tensor) -> Tensor:
        tau = _shaped(value, like)
        return tau / self.dt if self.conv.norse else tau

    def _fire(self, v: Tensor, theta: object) -> Tensor:
        th = _shaped(theta, v)
        return (v >= th if self.conv.comparison == ">=" else v > th).to(v.dtype)

    def step(self, x: Tensor) -> Tensor:
        n, dt = self.node, self.dt
        v = torch.zeros_like(x) if self.v is None else self.v
        if isinstance(n, nir.Threshold):
            return self._fire(x, n.threshold)
        if isinstance(n, (nir.IF, nir.I)):
            v = v + (x if self.conv.norse else dt * _shaped(n.r, x) * x)
        elif isinstance(n, (nir.LIF, nir.LI)):
            r = torch.ones_like(x) if self.conv.norse else _shaped(n.r, x)
            v = v + dt / self._tau(n.tau, x) * (_shaped(n.v_leak, x) - v + r * x)
        else:
            v = self._cuba(n, v, x)
        if isinstance(n, (nir.LI, nir.I)):
            self.v = v
            return v
        if self.reset is None:
            z = self._fire(v, n.v_threshold)
            self.v = torch.where(z > 0, _shaped(n.v_reset, x).expand_as(v), v)
            return z
        return self._stated_reset(v, torch.zeros_like(x) if self.v is None else self.v, n.v_threshold)

    def _stated_reset(self, h: Tensor, before: Tensor, threshold: object) -> Tensor:
        """The reset a user states for a file (nir_nodes.RESETS); v_reset is 0 (the reader requires it)."""
        kind, timing = RESETS[self.reset]  # type: ignore[index]
        th = _shaped(threshold, h)
        late = (before > th).to(h.dtype)  # delayed timings: the previous step's decision
        if timing == "delayed":
            self.v = h - th * late if kind == "subtract" else h * (1 - late)
            return self._fire(self.v, threshold)
        z = self._fire(h - th * late if timing == "double" else h, threshold)
        self.v = h - th * z if kind == "subtract" else h * (1 - z) if kind == "zero" else h
        return z

    def _cuba(self, n: nir.CubaLIF, v: Tensor, x: Tensor) -> Tensor:
        dt, i = self.dt, torch.zeros_like(x) if self.i is None else self.i
        tau_s, tau_m = self._tau(n.tau_syn, x), self._tau(n.tau_mem, x)
        if self.conv.norse:
            i = i + _shaped(n.w_in, x) * x
            v = v + dt / tau_m * (_shaped(n.v_leak, x) - v + i)
            self.i = i - dt / tau_s * i
            return v
        i = i + dt / tau_s * (-i + _shaped(n.w_in, x) * x)
        self.i = i
        return v + dt / tau_m * (_shaped(n.v_leak, x) - v + _shaped(n.r, x) * i)


def run_nir(graph: nir.NIRGraph, x: np.ndarray | Tensor, dt: float, conv: Convention,
            reset: str | None = None) -> dict[str, np.ndarray]:
    """Every node's output over time, [T, B, ...], for input x [T, B, *shape] (the graph's single Input);
    `reset`: the spiking neurons' actual reset where the file cannot state it (nir_nodes.RESETS)."""
    xs = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    preds: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        preds[dst].append(src)
    order = list(TopologicalSorter({n: set(p) for n, p in preds.items()}).static_order())
    neurons = {n: _Neuron(graph.nodes[n], dt, conv, reset) for n in order if not _is_stateless(graph.nodes[n])}
    history: dict[str, list[Tensor]] = {n: [] for n in order}
    for t in range(xs.shape[0]):
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                y = xs[t]
            else:
                total = cast(Tensor, sum(history[p][t] for p in preds[name]))  # a node past the input has preds
                y = _delayed(node, history, preds[name], t, dt) if isinstance(node, nir.Delay) else \
                    neurons[name].step(total) if name in neurons else \
                    total if isinstance(node, nir.Output) else _stateless(node, total)
            history[name].append(y)
    return {name: torch.stack(ys).numpy() for name, ys in history.items()}


def _is_stateless(node: nir.NIRNode) -> bool:
    return not isinstance(node, (nir.LIF, nir.IF, nir.LI, nir.I, nir.CubaLIF, nir.Threshold))


def _delayed(node: nir.Delay, history: dict[str, list[Tensor]], preds: list[str], t: int, dt: float) -> Tensor:
    steps = round(float(np.asarray(node.delay).reshape(-1)[0]) / dt)
    now = cast(Tensor, sum(history[p][t] for p in preds))  # a delay has one or more preds
    if steps == 0:
        return now
    return cast(Tensor, sum(history[p][t - steps] for p in preds)) if t >= steps else torch.zeros_like(now)


def spike_node(graph: nir.NIRGraph, name: str) -> str:
    """The NIR node holding the spikes of IR neuron `name` (an LI/I membrane spikes at its Threshold)."""
    if isinstance(graph.nodes.get(name), (nir.LI, nir.I)):
        return next(dst for src, dst in graph.edges if src == name)
    return name


def check_nir(graph: nir.NIRGraph, dt: float, conv: Convention, traced: ir.Graph, compiled: ir.Graph,
              x: Tensor, reset: str | None = None) -> CheckReport:
    """--check for a .nir source: the NIR reference vs the imported IR (per neuron) and vs the compiled graph."""
    ref = run_nir(graph, x, dt, conv, reset)
    res = simulate(traced, x)
    cmp = compare(traced, compiled, x)
    rows = []
    for n in traced.of_kind(ir.LIF, LIFExt):
        spikes = ref.get(spike_node(graph, n.name))
        mism = -1 if spikes is None else int(np.sum(spikes != res[n.name]))
        rows.append(LayerAgreement(n.name, int(res[n.name].size), mism, cmp.mismatches.get(n.name)))
    out = simulate(compiled, x, record="outputs").output
    (last,) = [src for src, dst in graph.edges if isinstance(graph.nodes[dst], nir.Output)][:1]
    expected = ref[last].mean(0) if isinstance(compiled.node(compiled.outputs[0]), ir.Readout) else ref[last]
    error = float(np.max(np.abs(out - expected))) if out.shape == expected.shape else float("nan")
    return CheckReport(rows, error, readout_tolerance=readout_tolerance(expected))


def check_nir_result(result: Any, x: Tensor) -> CheckReport:
    """check_nir for a CompileResult of a .nir source (its traced graph records the dt and convention used)."""
    meta = result.traced.metadata["nir"]
    compiled = result.graph
    if "loihi" in compiled.metadata:  # integer dynamics without the pipeline: aligned with the source's steps
        from snncompile.targets.loihi.numerics import compact

        compiled = compact(compiled)
    return check_nir(result.model, float(meta["dt"]), CONVENTIONS[meta["convention"]], result.traced,
                     compiled, x, meta.get("reset"))
