"""Quick differential check of a compile: PyTorch model vs traced IR vs compiled IR, layer by layer."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.sim import simulate
from snncompile.verification.compare import default_pairs, pair_values

CHECK_SAMPLES = 4
"""Random inputs of the default compile check (`--check-samples` for more)."""
CHECK_MEMORY = 384 << 20
"""Bytes of float64 sequences the check lets one chunk of samples take (every node's [T, ...] counted): the
samples simulated at once, at least 1 (2 for a CIFAR ResNet-19, all of them for the digits models)."""


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


def _run_recording(model: nn.Module, x: torch.Tensor, paths: set[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    calls: dict[str, list[np.ndarray]] = {}
    hooks = [module.register_forward_hook(
        lambda _m, _i, out, path=path: calls.setdefault(path, []).append(_first_tensor(out).detach().numpy()))
        for path, module in model.named_modules() if path in paths]
    try:
        with torch.no_grad():
            y = _first_tensor(model(x))
    finally:
        for h in hooks:
            h.remove()
    # a per-step module (called once per timestep) yields one [B, ...] array per call
    recorded = {p: (c[0] if len(c) == 1 else np.stack(c)) for p, c in calls.items()}
    return recorded, y.detach().numpy()


def model_outputs(model: nn.Module, x: torch.Tensor, paths: set[str]
                  ) -> tuple[dict[str, np.ndarray], np.ndarray, torch.dtype]:
    """Run a copy of `model` on x recording the modules at `paths`: in float64 when the model runs in it,
    else in float32 (some libraries hard-code float32 spikes)."""
    recorded, y, dtype = next(_chunks_recorded(model, x, paths, x.shape[1]))
    return recorded, y, dtype


def _chunks_recorded(model: nn.Module, x: torch.Tensor, paths: set[str], chunk: int
                     ) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, torch.dtype]]:
    """The model's recorded layers and output on successive chunks of `chunk` samples of x [T, B, ...], each on a
    fresh copy of the model (library neurons may keep state between calls) in float64, or float32 where the
    model does not run in float64."""
    dtype: torch.dtype | None = None
    for start in range(0, x.shape[1], chunk):
        part = x[:, start:start + chunk]
        if dtype is None:
            try:
                recorded, y = _run_recording(copy.deepcopy(model).eval().double(), part.double(), paths)
                dtype = torch.float64
            except (RuntimeError, TypeError):
                recorded, y = _run_recording(copy.deepcopy(model).eval().float(), part.float(), paths)
                dtype = torch.float32
        else:
            recorded, y = _run_recording(copy.deepcopy(model).eval().to(dtype), part.to(dtype), paths)
        yield recorded, y, dtype


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


def check_compile(model: nn.Module, traced: ir.Graph, compiled: ir.Graph, x: torch.Tensor,
                  chunk: int | None = None) -> CheckReport:
    """Per neuron layer: spike decisions that differ between PyTorch and the traced IR, and between the
    traced and the compiled IR (lowered MLF levels are summed back); plus the readout difference. Runs on
    `chunk` samples of x at a time (default: check_chunk), so memory does not grow with the number of samples."""
    chunk = chunk or check_chunk(traced, x.shape[0])
    neurons = traced.of_kind(*ir.NEURON_OPS)
    pairs = default_pairs(traced, compiled)
    names_b = [n for _, b in pairs for n in ((b,) if isinstance(b, str) else b)]
    decisions = {n.name: 0 for n in neurons}
    model_mism: dict[str, int] = {n.name: 0 for n in neurons}
    ir_mism: dict[str, int] = {a: 0 for a, _ in pairs}
    error, dtype = 0.0, torch.float64
    for k, (recorded, y, dtype) in enumerate(_chunks_recorded(model, x, {n.origin for n in neurons}, chunk)):
        part = x[:, k * chunk:(k + 1) * chunk].to(dtype)
        res = simulate(traced, part, dtype=dtype, record=[n.name for n in neurons])
        for n in neurons:
            ref = recorded.get(n.origin)
            ok = ref is not None and ref.shape == res[n.name].shape and model_mism[n.name] >= 0
            model_mism[n.name] = int(np.sum(ref != res[n.name])) + model_mism[n.name] if ok else -1
            decisions[n.name] += int(res[n.name].size)
        out_b = simulate(compiled, part, record=names_b, dtype=dtype)
        if dtype != torch.float64:  # the IR-vs-IR comparison runs in float64 whatever the model's dtype
            res = simulate(traced, part, record=[a for a, _ in pairs])
            cmp_b = simulate(compiled, part, record=names_b)
        else:
            cmp_b = out_b
        for a, b in pairs:
            ir_mism[a] += int(np.sum(res[a] != pair_values(cmp_b, b)))
        out = out_b.output
        error = max(error, float(np.max(np.abs(out - y))) if out.shape == y.shape else float("nan"))
        del recorded, res, out_b, cmp_b
    rows = [LayerAgreement(n.origin or n.name, decisions[n.name], model_mism[n.name], ir_mism.get(n.name))
            for n in neurons]
    return CheckReport(rows, error, str(dtype).removeprefix("torch."))
