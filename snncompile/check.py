"""Quick differential check of a compile: PyTorch model vs traced IR vs compiled IR, layer by layer."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.sim import simulate
from snncompile.testing import compare


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

    @property
    def exact(self) -> bool:
        return all(r.model_vs_traced == 0 and not r.traced_vs_compiled for r in self.layers)

    def to_json(self) -> dict[str, object]:
        return {"exact": self.exact, "readout_max_abs_error": self.readout_model_vs_compiled,
                "layers": [r.__dict__ for r in self.layers]}


def model_outputs(model: nn.Module, x: torch.Tensor, paths: set[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run a float64 copy of `model` on x, recording the outputs of the modules at `paths`."""
    twin = copy.deepcopy(model).eval().double()
    recorded: dict[str, np.ndarray] = {}
    hooks = []
    for path, module in twin.named_modules():
        if path in paths:
            hooks.append(module.register_forward_hook(
                lambda _m, _i, out, path=path: recorded.__setitem__(path, out.detach().numpy())))
    try:
        with torch.no_grad():
            y = twin(x.double())
    finally:
        for h in hooks:
            h.remove()
    return recorded, y.numpy()


def random_input(graph: ir.Graph, batch: int = 16, timesteps: int | None = None, seed: int = 0) -> torch.Tensor:
    """Direct-encoded random input in [0, 1), the same image repeated over T steps."""
    (inp,) = graph.of_kind(ir.Input)
    steps = timesteps or graph.timesteps or 4
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand((batch, *inp.shape), generator=gen, dtype=torch.float64)
    return image.unsqueeze(0).expand(steps, *image.shape).contiguous()


def check_compile(model: nn.Module, traced: ir.Graph, compiled: ir.Graph, x: torch.Tensor) -> CheckReport:
    neurons = traced.of_kind(ir.LIF, ir.MPBNLIF)
    recorded, y = model_outputs(model, x, {n.origin for n in neurons})
    res = simulate(traced, x)
    cmp = compare(traced, compiled, x)
    rows = []
    for n in neurons:
        ref = recorded.get(n.origin)
        mism = -1 if ref is None else int(np.sum(ref != res[n.name]))
        rows.append(LayerAgreement(n.origin or n.name, int(res[n.name].size), mism, cmp.mismatches.get(n.name)))
    out = simulate(compiled, x, record="outputs").output
    return CheckReport(rows, float(np.max(np.abs(out - y))) if out.shape == y.shape else float("nan"))
