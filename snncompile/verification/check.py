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
    layer: str
    decisions: int
    model_vs_traced: int
    traced_vs_compiled: int | None


@dataclass(frozen=True)
class CheckReport:
    layers: list[LayerAgreement]
    readout_model_vs_compiled: float
    dtype: str = "float64"

    @property
    def exact(self) -> bool:
        return all(r.model_vs_traced == 0 and not r.traced_vs_compiled for r in self.layers)

    def to_json(self) -> dict[str, object]:
        return {"exact": self.exact, "dtype": self.dtype, "readout_max_abs_error": self.readout_model_vs_compiled,
                "layers": [r.__dict__ for r in self.layers]}


def _first_tensor(out: Any) -> torch.Tensor:
    """Neuron modules of some libraries return (spikes, state): the spikes come first."""
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def _run_recording(model: nn.Module, x: torch.Tensor, paths: set[str], layout: str = "tb"
                   ) -> tuple[dict[str, np.ndarray | list[np.ndarray]], np.ndarray]:
    calls: dict[str, list[np.ndarray]] = {}
    steps, inner = x.shape[0], internal_layout(layout)
    hooks = [module.register_forward_hook(
        lambda _m, _i, out, path=path: calls.setdefault(path, []).append(_first_tensor(out).detach().numpy().copy()))
        for path, module in model.named_modules() if path in paths]
    try:
        with torch.no_grad():
            y = _first_tensor(model(model_input(layout, x)))
    finally:
        for h in hooks:
            h.remove()
    if layout != "tb":  # the model's own layout (the papers' code): one [T, B, ...] array per call
        converted = {p: [to_tb(inner, a, steps) for a in c] for p, c in calls.items()}
        return {p: c[0] if len(c) == 1 else c for p, c in converted.items()}, y.detach().numpy()
    # a per-step module (called once per timestep) yields one [B, ...] array per call
    recorded = {p: (c[0] if len(c) == 1 else np.stack(c)) for p, c in calls.items()}
    return recorded, y.detach().numpy()


def model_outputs(model: nn.Module, x: torch.Tensor, paths: set[str], layout: str = "tb"
                  ) -> tuple[dict[str, Any], np.ndarray, torch.dtype]:
    """Run a copy of `model` on x ([T, B, ...], given to the model in its input `layout`) recording the modules
    at `paths`: in float64 when the model runs in it, else in float32 (some libraries hard-code float32
    spikes). A module called at several places (a shared spike module) records a list, one per call."""
    twin = copy.deepcopy(model).eval()
    try:
        recorded, y = _run_recording(twin.double(), x.double(), paths, layout)
        return recorded, y, torch.float64
    except (RuntimeError, TypeError):
        twin = copy.deepcopy(model).eval().float()
        recorded, y = _run_recording(twin, x.float(), paths, layout)
        return recorded, y, torch.float32


def random_input(graph: ir.Graph, batch: int = 16, timesteps: int | None = None, seed: int = 0) -> torch.Tensor:
    """Direct-encoded random input in [0, 1), the same image repeated over T steps."""
    (inp,) = graph.of_kind(ir.Input)
    steps = timesteps or graph.timesteps or 4
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand((batch, *inp.shape), generator=gen, dtype=torch.float64)
    return image.unsqueeze(0).expand(steps, *image.shape).contiguous()


def check_compile(model: nn.Module, traced: ir.Graph, compiled: ir.Graph, x: torch.Tensor) -> CheckReport:
    """Per neuron layer: spike decisions that differ between PyTorch and the traced IR, and between the
    traced and the compiled IR (lowered MLF levels are summed back); plus the readout difference."""
    neurons = float_neurons(traced)
    layout = str(traced.metadata.get("input_layout", "tb"))
    recorded, y, dtype = model_outputs(model, x, {n.origin for n in neurons}, layout)
    x = x.to(dtype)
    res = simulate(traced, x, dtype=dtype)
    cmp = compare(traced, compiled, x)
    rows = []
    calls: dict[str, int] = {}
    for n in neurons:
        ref = recorded.get(n.origin)
        if isinstance(ref, list):  # the k-th call of a shared module is the k-th node with its origin
            k = calls[n.origin] = calls.get(n.origin, -1) + 1
            ref = ref[k] if k < len(ref) else None
        mism = -1 if ref is None or ref.shape != res[n.name].shape else int(np.sum(ref != res[n.name]))
        rows.append(LayerAgreement(n.origin or n.name, int(res[n.name].size), mism, cmp.mismatches.get(n.name)))
    out = simulate(compiled, x, record="outputs", dtype=dtype).output
    if traced.metadata.get("output_over_time") == "mean":
        out = out.mean(0)
    elif traced.metadata.get("output_over_time") == "sum":
        out = out.sum(0)
    error = float(np.max(np.abs(out - y))) if out.shape == y.shape else float("nan")
    return CheckReport(rows, error, str(dtype).removeprefix("torch."))
