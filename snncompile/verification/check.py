"""Quick differential check of a compile: PyTorch model vs traced IR vs compiled IR, layer by layer."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.frontend.pytorch.eager import internal_layout, model_input, to_tb
from snncompile.ir.traits import float_neurons
from snncompile.sim import simulate
from snncompile.verification.compare import compare


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
    twin = copy.deepcopy(model).eval()
    try:
        recorded, y = _run_recording(twin.double(), x.double(), paths, layout)
        return recorded, y, torch.float64
    except (RuntimeError, TypeError):
        twin = copy.deepcopy(model).eval().float()
        recorded, y = _run_recording(twin, x.float(), paths, layout)
        return recorded, y, torch.float32


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


def random_input(graph: ir.Graph, batch: int = 16, timesteps: int | None = None, seed: int = 0) -> torch.Tensor:
    """Direct-encoded random input in [0, 1), the same image repeated over T steps."""
    (inp,) = graph.of_kind(ir.Input)
    steps = timesteps or graph.timesteps or 4
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand((batch, *inp.shape), generator=gen, dtype=torch.float64)
    return image.unsqueeze(0).expand(steps, *image.shape).contiguous()


def check_compile(model: nn.Module, traced: ir.Graph, compiled: ir.Graph, x: torch.Tensor) -> CheckReport:
    """Per neuron node of the traced IR (every call of a module called several times): spike decisions that
    differ between PyTorch and the traced IR, and between the traced and the compiled IR (lowered MLF levels
    are summed back); plus the readout difference, with a float-rounding tolerance."""
    neurons = float_neurons(traced)
    layout = str(traced.metadata.get("input_layout", "tb"))
    calls, y, dtype = model_outputs(model, x, {n.origin for n in neurons}, layout)
    recorded, reasons = align_calls(calls, [(n.name, n.origin, tuple(traced.shapes[n.name])) for n in neurons],
                                    int(x.shape[0]), int(x.shape[1]))
    x = x.to(dtype)
    res = simulate(traced, x, dtype=dtype)
    cmp = compare(traced, compiled, x)
    rows = []
    for n in neurons:
        ref = recorded.get(n.name)
        mism = -1 if ref is None else int(np.sum(ref != res[n.name]))
        label = n.origin or n.name
        if sum(m.origin == n.origin for m in neurons) > 1:
            label = f"{label} [{n.name}]"
        rows.append(LayerAgreement(label, int(res[n.name].size), mism, cmp.mismatches.get(n.name),
                                   reasons.get(n.name, "")))
    out = simulate(compiled, x, record="outputs", dtype=dtype).output
    if traced.metadata.get("output_over_time") == "mean":
        out = out.mean(0)
    elif traced.metadata.get("output_over_time") == "sum":
        out = out.sum(0)
    error = float(np.max(np.abs(out - y))) if out.shape == y.shape else float("nan")
    tolerance = readout_tolerance(y, dtype)
    return CheckReport(rows, error, str(dtype).removeprefix("torch."), tolerance)
