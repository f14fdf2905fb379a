"""Quick differential check of a compile: PyTorch model vs traced IR vs compiled IR, layer by layer."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile import ir, progress
from snncompile.frontend.pytorch.eager import internal_layout, model_input, to_tb
from snncompile.ir.traits import float_neurons
from snncompile.sim import simulate
from snncompile.verification.compare import default_pairs, pair_values

CHECK_SAMPLES = 4
"""Random inputs of the default compile check (`--check-samples` for more)."""
CHECK_MEMORY = 384 << 20
"""Bytes of float64 sequences the check lets one chunk of samples take (every node's [T, ...] counted): the
samples simulated at once, at least 1 (2 for a CIFAR ResNet-19, all of them for the digits models)."""


@dataclass(frozen=True)
class LayerAgreement:
    """One neuron node: decisions, and how many differ model vs traced IR (-1: could not be compared, see
    `note`) and traced vs compiled IR (None: the compiled graph has no such population)."""

    layer: str
    decisions: int
    model_vs_traced: int
    traced_vs_compiled: int | None
    note: str = ""

    @property
    def compared(self) -> bool:
        return self.model_vs_traced >= 0


READOUT_RTOL = 1e-9
"""Readout tolerance of an exact compile, relative to the largest |readout|: spike decisions are bit-exact,
the readout is a linear map of spike counts whose summation order folding may change."""


@dataclass(frozen=True)
class CheckReport:
    layers: list[LayerAgreement]
    readout_model_vs_compiled: float
    dtype: str = "float64"
    readout_tolerance: float = 0.0

    @property
    def compared(self) -> int:
        return sum(r.compared for r in self.layers)

    @property
    def readout_ok(self) -> bool:
        return self.readout_model_vs_compiled <= self.readout_tolerance  # NaN (shapes differ) fails too

    @property
    def exact(self) -> bool:
        return all(r.model_vs_traced == 0 and not r.traced_vs_compiled for r in self.layers) and self.readout_ok

    def to_json(self) -> dict[str, object]:
        return {"exact": self.exact, "dtype": self.dtype, "layers_compared": self.compared,
                "layers_total": len(self.layers), "readout_max_abs_error": self.readout_model_vs_compiled,
                "readout_tolerance": self.readout_tolerance, "readout_ok": self.readout_ok,
                "layers": [{**r.__dict__} for r in self.layers]}


def readout_tolerance(reference: np.ndarray, dtype: torch.dtype | str = torch.float64) -> float:
    """Float-rounding tolerance for a readout compared with `reference` (see READOUT_RTOL; float32: 1e-5)."""
    rtol = READOUT_RTOL if str(dtype).removeprefix("torch.") == "float64" else 1e-5
    return rtol * max(1.0, float(np.max(np.abs(reference)))) if np.size(reference) else 0.0


def _first_tensor(out: Any) -> torch.Tensor:
    """Neuron modules of some libraries return (spikes, state): the spikes come first."""
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def _run_recording(model: nn.Module, x: torch.Tensor, paths: set[str], layout: str = "tb"
                   ) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    calls: dict[str, list[np.ndarray]] = {}
    steps, inner = x.shape[0], internal_layout(layout)
    hooks = [module.register_forward_hook(
        lambda _m, _i, out, path=path: calls.setdefault(path, []).append(_first_tensor(out).detach().numpy().copy()))
        for path, module in model.named_modules(remove_duplicate=False) if path in paths]
    try:
        with torch.no_grad():
            y = _first_tensor(model(model_input(layout, x)))
    finally:
        for h in hooks:
            h.remove()
    if layout != "tb":  # the model's own layout (the papers' code): one [T, B, ...] array per call
        calls = {p: [to_tb(inner, a, steps) for a in c] for p, c in calls.items()}
    return calls, y.detach().numpy()


def model_outputs(model: nn.Module, x: torch.Tensor, paths: set[str], layout: str = "tb"
                  ) -> tuple[dict[str, list[np.ndarray]], np.ndarray, torch.dtype]:
    """Run a copy of `model` on x ([T, B, ...], given to the model in its input `layout`) recording every call
    of the modules at `paths` (a list per path, in call order): in float64 when the model runs in it, else in
    float32 (some libraries hard-code float32 spikes)."""
    recorded, y, dtype = next(_chunks_recorded(model, x, paths, x.shape[1], layout))
    return recorded, y, dtype


def _chunks_recorded(model: nn.Module, x: torch.Tensor, paths: set[str], chunk: int, layout: str = "tb"
                     ) -> Iterator[tuple[dict[str, list[np.ndarray]], np.ndarray, torch.dtype]]:
    """The model's recorded calls and output on successive chunks of `chunk` samples of x [T, B, ...], each on a
    fresh copy of the model (library neurons may keep state between calls) in float64, or float32 where the
    model does not run in float64."""
    dtype: torch.dtype | None = None
    for start in range(0, x.shape[1], chunk):
        part = x[:, start:start + chunk]
        if dtype is None:
            try:
                recorded, y = _run_recording(copy.deepcopy(model).eval().double(), part.double(), paths, layout)
                dtype = torch.float64
            except (RuntimeError, TypeError):
                recorded, y = _run_recording(copy.deepcopy(model).eval().float(), part.float(), paths, layout)
                dtype = torch.float32
        else:
            recorded, y = _run_recording(copy.deepcopy(model).eval().to(dtype), part.to(dtype), paths, layout)
        yield recorded, y, dtype


def align_calls(calls: dict[str, list[np.ndarray]], nodes: list[tuple[str, str, tuple[int, ...]]], steps: int,
                batch: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Map the recorded calls of each module to its IR nodes (name, origin, per-sample shape), in order.

    A module with K nodes (called K times in the forward pass, e.g. a shared spike function) gives K calls,
    call k to node k; one called per timestep (a time-loop body) gives T·K calls, step t's call k to node k.
    A call that returns the merged time-major layout [T·B, ...] is unmerged to [T, B, ...]. Returns the
    aligned arrays by node name, and for each node that could not be aligned the reason."""
    by_origin: dict[str, list[str]] = {}
    for name, origin, _shape in nodes:
        by_origin.setdefault(origin, []).append(name)
    shapes = {name: (steps, batch, *shape) for name, _origin, shape in nodes}
    aligned: dict[str, np.ndarray] = {}
    reasons: dict[str, str] = {}
    for origin, names in by_origin.items():
        got, k = calls.get(origin, []), len(names)
        if not got:
            reasons.update({n: f"module `{origin}` was not called (or is not a module)" for n in names})
            continue
        if len(got) == k:
            per_node = [got[i] for i in range(k)]
        elif len(got) == steps * k:
            per_node = []
            for i in range(k):
                try:
                    per_node.append(np.stack(got[i::k]))
                except ValueError:
                    per_node.append(np.empty(0))
        else:
            reasons.update({n: f"module `{origin}` was called {len(got)} times for {k} IR node(s)" for n in names})
            continue
        for name, ref in zip(names, per_node, strict=True):
            want = shapes[name]
            if ref.shape != want and ref.size == int(np.prod(want)) and ref.shape[1:] == want[2:]:
                ref = ref.reshape(want)  # [T·B, ...] (time-major, as TimeDistributed merges)
            if ref.shape != want:
                reasons[name] = f"call of `{origin}` returned {list(ref.shape)}, the IR node is {list(want)}"
            else:
                aligned[name] = ref
    return aligned, reasons


def random_input(graph: ir.Graph, batch: int = CHECK_SAMPLES, timesteps: int | None = None,
                 seed: int = 0) -> torch.Tensor:
    """Direct-encoded random input in [0, 1), the same image repeated over T steps."""
    (inp,) = graph.of_kind(ir.Input)
    steps = timesteps or graph.timesteps or 4
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand((batch, *inp.shape), generator=gen, dtype=torch.float64)
    return image.unsqueeze(0).expand(steps, *image.shape).contiguous()


def check_chunk(traced: ir.Graph, timesteps: int) -> int:
    """Samples per chunk so that one chunk's sequences of every traced node fit in CHECK_MEMORY."""
    per_sample = sum(int(np.prod(shape)) for shape in traced.shapes.values()) * timesteps * 8
    return max(1, CHECK_MEMORY // max(per_sample, 1))


def _over_time(traced: ir.Graph, out: np.ndarray) -> np.ndarray:
    """The compiled output as the model returns it (the papers' models average or sum it over time)."""
    how = traced.metadata.get("output_over_time")
    return out.mean(0) if how == "mean" else out.sum(0) if how == "sum" else out


def check_compile(model: nn.Module, traced: ir.Graph, compiled: ir.Graph, x: torch.Tensor,
                  chunk: int | None = None) -> CheckReport:
    """Per neuron node of the traced IR (every call of a module called several times): spike decisions that
    differ between PyTorch and the traced IR, and between the traced and the compiled IR (lowered MLF levels
    are summed back); plus the readout difference, with a float-rounding tolerance. Runs on `chunk` samples of
    x at a time (default: check_chunk), so memory does not grow with the number of samples."""
    chunk = chunk or check_chunk(traced, x.shape[0])
    neurons = float_neurons(traced)
    layout = str(traced.metadata.get("input_layout", "tb"))
    nodes = [(n.name, n.origin, tuple(traced.shapes[n.name])) for n in neurons]
    pairs = default_pairs(traced, compiled)
    names_b = [n for _, b in pairs for n in ((b,) if isinstance(b, str) else b)]
    decisions = {n.name: 0 for n in neurons}
    model_mism: dict[str, int] = {n.name: 0 for n in neurons}
    ir_mism: dict[str, int] = {a: 0 for a, _ in pairs}
    reasons: dict[str, str] = {}
    error, tolerance, dtype = 0.0, 0.0, torch.float64
    chunks = _chunks_recorded(model, x, {n.origin for n in neurons}, chunk, layout)
    for k, (calls, y, dtype) in enumerate(chunks):
        part = x[:, k * chunk:(k + 1) * chunk].to(dtype)
        recorded, why = align_calls(calls, nodes, int(part.shape[0]), int(part.shape[1]))
        reasons.update(why)
        progress.advance(part.shape[1] / 3)  # the model ran; then the traced and the compiled IR
        res = simulate(traced, part, dtype=dtype, record=[n.name for n in neurons])
        for n in neurons:
            ref = recorded.get(n.name)
            ok = ref is not None and model_mism[n.name] >= 0
            model_mism[n.name] = int(np.sum(ref != res[n.name])) + model_mism[n.name] if ok else -1
            decisions[n.name] += int(res[n.name].size)
        progress.advance(part.shape[1] / 3)
        out_b = simulate(compiled, part, record=names_b, dtype=dtype)
        if dtype != torch.float64:  # the IR-vs-IR comparison runs in float64 whatever the model's dtype
            res = simulate(traced, part, record=[a for a, _ in pairs])
            cmp_b = simulate(compiled, part, record=names_b)
        else:
            cmp_b = out_b
        for a, b in pairs:
            ir_mism[a] += int(np.sum(res[a] != pair_values(cmp_b, b)))
        out = _over_time(traced, out_b.output)
        error = max(error, float(np.max(np.abs(out - y))) if out.shape == y.shape else float("nan"))
        tolerance = max(tolerance, readout_tolerance(y, dtype))
        del calls, recorded, res, out_b, cmp_b
        progress.advance(part.shape[1] / 3)
    rows = []
    for n in neurons:
        label = n.origin or n.name
        if sum(m.origin == n.origin for m in neurons) > 1:
            label = f"{label} [{n.name}]"
        rows.append(LayerAgreement(label, decisions[n.name], model_mism[n.name], ir_mism.get(n.name),
                                   reasons.get(n.name, "")))
    return CheckReport(rows, error, str(dtype).removeprefix("torch."), tolerance)
