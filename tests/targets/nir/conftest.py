"""Fixtures of the NIR target tests: hand-built IR graphs, the export helper, and library importers as runners."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.ir.ops_ext import LIFExt
from snncompile.passes import PassContext
from snncompile.targets.nir.target import NIR

T, B = 25, 8


def _lif(name: str, src: str, n: int | tuple[int, ...], decay: float, theta: float, **kw: object) -> ir.LIF:
    shape = (n,) if isinstance(n, int) else n
    return ir.LIF(name, (src,), f"net.{name}", decay=np.full(shape, decay), threshold=np.full((1, *shape), theta),
                  **kw)


def mlp(seed: int = 0, decay: float = 0.85, decay2: float = 0.7, **kw: object) -> ir.Graph:
    rng = np.random.default_rng(seed)
    return ir.Graph((
        ir.Input("x", (), shape=(12,)),
        ir.Dense("fc1", ("x",), "net.fc1", weight=rng.normal(0, 0.9, (20, 12)), bias=rng.normal(0.1, 0.1, 20)),
        _lif("lif1", "fc1", 20, decay, 1.0, **kw),
        ir.Dense("fc2", ("lif1",), "net.fc2", weight=rng.normal(0, 0.9, (8, 20)), bias=rng.normal(0.2, 0.1, 8)),
        _lif("lif2", "fc2", 8, decay2, 0.5, **kw),
    ), ("lif2",), {"timesteps": T})


def conv(seed: int = 0, pool: str = "avg") -> ir.Graph:
    rng = np.random.default_rng(seed)
    return ir.Graph((
        ir.Input("x", (), shape=(2, 8, 8)),
        ir.Conv2d("c1", ("x",), weight=rng.normal(0, 0.8, (4, 2, 3, 3)), bias=rng.normal(0.1, 0.1, 4), padding=(1, 1)),
        _lif("l1", "c1", (4, 8, 8), 0.8, 1.0),
        ir.Pool2d("p", ("l1",), mode=pool),
        ir.Flatten("f", ("p",)),
        ir.Dense("d", ("f",), weight=rng.normal(0, 0.6, (6, 64)), bias=rng.normal(0.2, 0.1, 6)),
        _lif("l2", "d", 6, 0.7, 0.5),
    ), ("l2",), {"timesteps": T})


def residual(seed: int = 0) -> ir.Graph:
    """l3 reads fc3(l1 + l2): lower-residual makes it a fan-in of two synapse copies (two NIR edges)."""
    rng = np.random.default_rng(seed)
    return ir.Graph((
        ir.Input("x", (), shape=(12,)),
        ir.Dense("fc1", ("x",), weight=rng.normal(0, 1, (16, 12)), bias=rng.normal(0.1, 0.1, 16)),
        _lif("l1", "fc1", 16, 0.9, 1.0),
        ir.Dense("fc2", ("l1",), weight=rng.normal(0, 1, (16, 16))),
        _lif("l2", "fc2", 16, 0.9, 1.0),
        ir.Add("add", ("l1", "l2")),
        ir.Dense("fc3", ("add",), weight=rng.normal(0, 1, (5, 16)), bias=rng.normal(0.1, 0.1, 5)),
        _lif("l3", "fc3", 5, 0.5, 0.8),
    ), ("l3",), {"timesteps": T})


def cuba(seed: int = 0) -> ir.Graph:
    """Current-based neurons (LIFExt with a synaptic decay): nir.CubaLIF."""
    rng = np.random.default_rng(seed)
    return ir.Graph((
        ir.Input("x", (), shape=(12,)),
        ir.Dense("fc1", ("x",), weight=rng.normal(0, 1, (16, 12)), bias=rng.normal(0.1, 0.1, 16)),
        LIFExt("l1", ("fc1",), decay=np.full(16, 0.9), threshold=np.ones(16), syn_decay=np.full(16, 0.7)),
        ir.Dense("fc2", ("l1",), weight=rng.normal(0, 1, (5, 16))),
        LIFExt("l2", ("fc2",), decay=np.full(5, 0.8), threshold=np.ones(5), syn_decay=np.full(5, 0.5)),
    ), ("l2",), {"timesteps": T})


def readout(seed: int = 0) -> ir.Graph:
    g = mlp(seed)
    rng = np.random.default_rng(seed + 1)
    head = ir.Readout("head", ("lif2",), "net.head", weight=rng.normal(size=(3, 8)), bias=rng.normal(size=3))
    return ir.Graph((*g.nodes, head), ("head",), g.metadata)


def spikes(shape: tuple[int, ...], seed: int = 0, steps: int = T) -> np.ndarray:
    """Binary input [T, B, *shape] at rate 0.3."""
    return (np.random.default_rng(seed).random((steps, B, *shape)) < 0.3).astype(np.float64)


def export(graph: ir.Graph, directory: Path, **options: object) -> tuple[ir.Graph, Path]:
    """Compile `graph` with the nir target (pipeline, rules, emit); the compiled graph and model.nir."""
    target = NIR.with_options(options)
    compiled, _ = target.pipeline().run(graph, PassContext())
    problems = [d for rule in target.rules() for d in rule(compiled)]
    assert not problems, problems
    directory.mkdir(parents=True, exist_ok=True)
    target.emit(compiled, directory, {})
    return compiled, directory / "model.nir"


def _step_loop(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    out, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = net(torch.tensor(x[t], dtype=torch.float32), state)
            out.append(y.numpy())
    return np.stack(out)


def run_snntorch(path: Path, x: np.ndarray, dt: float = 1e-4) -> np.ndarray:
    """snntorch.import_from_nir (dt is hard-coded to 1e-4 there; the argument only documents it)."""
    from snntorch import import_nir

    with contextlib.redirect_stdout(io.StringIO()):  # it prints its threshold rescaling
        net = import_nir.import_from_nir(nir.read(path))
        return _step_loop(net, x)


def run_spikingjelly(path: Path, x: np.ndarray, dt: float = 1e-4) -> np.ndarray:
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    return _step_loop(import_from_nir(str(path), dt=dt), x)


def run_norse(path: Path, x: np.ndarray, dt: float = 1e-4) -> np.ndarray:
    import norse.torch as norse

    logging.getLogger().setLevel(logging.ERROR)  # its warnings about r
    return _step_loop(norse.from_nir(nir.read(path), dt=dt), x)


RUNNERS: dict[str, Callable[..., np.ndarray]] = {"snntorch": run_snntorch, "spikingjelly": run_spikingjelly,
                                                 "norse": run_norse}


@dataclass(frozen=True)
class NirKit:
    mlp: Callable[..., ir.Graph] = mlp
    conv: Callable[..., ir.Graph] = conv
    residual: Callable[..., ir.Graph] = residual
    cuba: Callable[..., ir.Graph] = cuba
    readout: Callable[..., ir.Graph] = readout
    spikes: Callable[..., np.ndarray] = spikes
    export: Callable[..., tuple[ir.Graph, Path]] = export


@pytest.fixture
def nirkit() -> NirKit:
    return NirKit()


@pytest.fixture
def runner() -> Callable[[str], Callable[..., np.ndarray]]:
    """runner(library) → run(path, x, dt): the library's NIR importer stepped over x [T, B, ...] in float32."""
    def get(library: str) -> Callable[..., np.ndarray]:
        pytest.importorskip({"spikingjelly": "spikingjelly.activation_based"}.get(library, library))
        return RUNNERS[library]
    return get
