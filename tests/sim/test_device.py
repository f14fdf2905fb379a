"""--device / device=: CUDA equals the CPU bit for bit (run only where torch sees a GPU), SNC960 without one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.passes import PassContext
from snncompile.sim import simulate
from snncompile.sim.device import DEFAULT_DEVICE, resolve_device, simulator_device
from snncompile.targets.loihi import LOIHI, LOIHI_OPS, simulate_loihi, testnets
from snncompile.targets.loihi.numerics import pad_input
from snncompile.verification.stages import counting_numerics

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU visible to torch: the CPU/CUDA comparison is skipped")


def sample(graph: ir.Graph, batch: int = 3) -> np.ndarray:
    (inp,) = graph.of_kind(ir.Input)
    return np.random.default_rng(0).random((graph.timesteps, batch, *inp.shape))


@pytest.mark.skipif(CUDA, reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_snc960() -> None:
    graph = testnets.dense_chain()
    with pytest.raises(CompileError) as info:
        simulate(graph, sample(graph), device="cuda")
    assert info.value.diagnostics[0].code == "SNC960"
    assert info.value.diagnostics[0].hint


def test_simulator_device_sets_the_default_and_restores_it() -> None:
    assert resolve_device(None) == torch.device("cpu")
    with simulator_device("cpu") as dev:
        assert DEFAULT_DEVICE.get() == dev == resolve_device(None)
    assert DEFAULT_DEVICE.get() is None


@needs_cuda
@pytest.mark.parametrize("name", ["dense_chain", "conv_chain", "residual_net", "cuba_net", "shortcut_pool_net"])
def test_bit_exact_simulator_on_cuda_equals_the_cpu_bit_for_bit(name: str) -> None:
    graph = getattr(testnets, name)()
    q = LOIHI.pipeline().run(graph, PassContext())[0]
    x = sample(graph, batch=5)
    cpu, gpu = simulate_loihi(q, x), simulate_loihi(q, x, device="cuda")
    for node in cpu.values:
        np.testing.assert_array_equal(gpu[node], cpu[node], err_msg=node)


@needs_cuda
def test_wrap_and_saturation_counts_on_cuda_equal_the_cpu() -> None:
    q = testnets.stress_graph()
    x = pad_input((sample(q) < 0.95).astype(float), q.metadata["loihi"]["latency"])
    found = []
    for device in ("cpu", "cuda"):
        events: dict[str, dict[str, int]] = {}
        out = simulate(q, x, record="all", numerics=counting_numerics(LOIHI_OPS, events), device=device)
        found.append((events, out))
    assert found[0][0] == found[1][0]
    for node in found[0][1].values:
        np.testing.assert_array_equal(found[1][1][node], found[0][1][node], err_msg=node)
