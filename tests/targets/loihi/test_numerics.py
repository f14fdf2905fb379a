"""The bit-exact Loihi numerics against a direct int64 statement of Lava's fixed_pt equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.targets.loihi.lif_int import LifConstants, initial_state, run_chunk
from snncompile.targets.loihi.numerics import LOIHI_OPS, lif_kernel, wrap24
from snncompile.targets.loihi.ops import LoihiLIF


def reference_lif(a: np.ndarray, op: LoihiLIF) -> tuple[np.ndarray, int, int]:
    """Lava's PyLifResetModelBitAcc step by step in int64 (docs/LOIHI.md 3.1); also counts u wraps and v
    saturations."""
    steps, n = a.shape
    bias = np.zeros(n, np.int64) if op.bias is None else op.bias.astype(np.int64)
    b16 = ((bias + 2**15) % 2**16) - 2**15
    u, v = np.zeros(n, np.int64), np.zeros(n, np.int64)
    out, wraps, sats = np.zeros((steps, n), np.int64), 0, 0

    def dec(x: np.ndarray, d: int) -> np.ndarray:
        p = x * (4096 - d)
        return np.sign(p) * (np.abs(p) >> 12)

    for t in range(steps):
        if op.period and t % op.period == op.phase % op.period:
            u[:], v[:] = 0, 0
        u1 = dec(u, op.i_decay) + a[t].astype(np.int64) * 64
        wraps += int(np.sum((u1 > 2**23) | (u1 <= -(2**23))))
        u = np.where(u1 > 2**23, u1 - 2**24, np.where(u1 <= -(2**23), u1 + 2**24, u1))
        v1 = dec(v, op.v_decay) + u + b16 * 64
        sats += int(np.sum(np.abs(v1) > 2**23 - 1))
        v = np.clip(v1, -(2**23 - 1), 2**23 - 1)
        s = v > op.threshold * 64
        v[s] = 0
        out[t] = s
    return out, wraps, sats


def random_lif(rng: np.random.Generator, n: int, huge: bool) -> LoihiLIF:
    return LoihiLIF("p", (ir.Edge("x", 1),), threshold=int(rng.integers(0, 2**17)) if huge else 200,
                    i_decay=int(rng.integers(1, 4097)), v_decay=int(rng.integers(0, 4097)),
                    bias=rng.integers(-40000, 40000, n).astype(float), scale=np.ones(n),
                    period=int(rng.integers(0, 7)), phase=int(rng.integers(0, 7)))


@pytest.mark.parametrize("dtype", [None, torch.int64, torch.float64], ids=["auto", "int64", "float64"])
@pytest.mark.parametrize("seed", range(8))
def test_lif_kernel_matches_the_int64_reference_including_wraps_and_saturation(seed: int,
                                                                                dtype: torch.dtype | None) -> None:
    rng = np.random.default_rng(seed)
    n, batch, steps = 24, 3, 40
    op = random_lif(rng, n, huge=seed % 2 == 0)
    a = rng.integers(-300_000, 300_000, (steps, batch, n)).astype(float)
    events: dict[str, int] = {}
    got = lif_kernel(a.reshape(steps, -1), op, batch, events, dtype=dtype).reshape(steps, batch, n)
    wraps = sats = 0
    for b in range(batch):
        ref, w, s = reference_lif(a[:, b], op)
        wraps, sats = wraps + w, sats + s
        np.testing.assert_array_equal(got[:, b], ref)
    assert wraps > 0 and sats > 0
    assert events == {"wraps": wraps, "saturations": sats}


@pytest.mark.parametrize("dtype", [torch.int64, torch.float64], ids=["int64", "float64"])
def test_memoryless_current_fast_path_matches_reference(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(11)
    op = LoihiLIF("p", (ir.Edge("x", 1),), threshold=500, i_decay=4096, v_decay=3072,
                  bias=rng.integers(-4096, 4096, 50).astype(float), scale=np.ones(50), period=9, phase=2)
    a = rng.integers(-2000, 3000, (60, 50)).astype(float)
    np.testing.assert_array_equal(lif_kernel(a, op, 1, dtype=dtype), reference_lif(a, op)[0])


def test_float_blas_sums_of_integer_weights_and_spikes_are_exact() -> None:
    rng = np.random.default_rng(0)
    w = 2 * rng.integers(-128, 128, (256, 1024)).astype(np.int64)
    s = (rng.random((500, 1024)) < 0.4).astype(np.int64)
    exact = s @ w.T
    dense = ir.Dense("d", (ir.Edge("x"),), weight=w.astype(float))
    got = LOIHI_OPS[ir.Dense](dense, [torch.from_numpy(s.astype(float)).reshape(500, 1, 1024)])
    np.testing.assert_array_equal(got.reshape(500, 256).numpy().astype(np.int64), exact)
    graded = rng.integers(0, 256, (50, 1024)).astype(np.int64)  # 8-bit payloads: past float32's exact range
    got = LOIHI_OPS[ir.Dense](dense, [torch.from_numpy(graded.astype(float)).reshape(50, 1, 1024)])
    np.testing.assert_array_equal(got.reshape(50, 256).numpy().astype(np.int64), graded @ w.T)


def test_conv_is_exact_and_wraps_at_24_bits() -> None:
    rng = np.random.default_rng(1)
    w = 2 * rng.integers(-128, 128, (3, 4, 3, 3)).astype(float)
    x = rng.integers(0, 2, (2, 5, 4, 7, 6)).astype(float)
    conv = ir.Conv2d("c", (ir.Edge("x"),), weight=w, padding=(1, 1), dilation=(1, 2), stride=(2, 1))
    got = LOIHI_OPS[ir.Conv2d](conv, [torch.from_numpy(x)]).numpy()
    ref = torch.nn.functional.conv2d(torch.from_numpy(x.reshape(10, 4, 7, 6)).long(), torch.from_numpy(w).long(),
                                     padding=(1, 1), dilation=(1, 2), stride=(2, 1)).numpy()
    np.testing.assert_array_equal(got.reshape(ref.shape), ref)
    big = torch.tensor([2.0**23 - 1, 2.0**23, -(2.0**23), -(2.0**23) - 1, 3 * 2.0**23])
    np.testing.assert_array_equal(wrap24(big).numpy(), [2**23 - 1, -(2**23), -(2**23), 2**23 - 1, -(2**23)])


def test_float32_conv_fast_path_is_exact_on_nnpack_sized_batches() -> None:
    rng = np.random.default_rng(2)
    w = 2 * rng.integers(-128, 128, (32, 32, 3, 3)).astype(float)
    x = (rng.random((4, 64, 32, 8, 8)) < 0.3).astype(float)
    conv = ir.Conv2d("c", (ir.Edge("x"),), weight=w, padding=(1, 1))
    got = LOIHI_OPS[ir.Conv2d](conv, [torch.from_numpy(x)]).numpy().reshape(256, 32, 8, 8)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x.reshape(256, 32, 8, 8)).long(), torch.from_numpy(w).long(),
                                     padding=(1, 1)).numpy()
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("seed", range(4))
def test_lif_run_in_time_chunks_carries_the_state_and_the_reset_schedule(seed: int) -> None:
    """The streamed update (state carried between chunks of random length, resets at absolute steps) equals
    the int64 reference step by step, events included."""
    rng = np.random.default_rng(100 + seed)
    n, steps = 24, 40
    op = random_lif(rng, n, huge=seed % 2 == 0)
    a = rng.integers(-300_000, 300_000, (steps, 1, n)).astype(float)
    state = initial_state((1, n), torch.device("cpu"))
    constants = LifConstants.of(op, torch.device("cpu"))
    got, t0 = [], 0
    while t0 < steps:
        size = int(rng.integers(1, 7))
        dtype = torch.int64 if rng.random() < 0.5 else None  # a chunk past 2^53 switches the state to int64
        got.append(run_chunk(op, torch.from_numpy(a[t0:t0 + size]), state, t0, constants, count=True, dtype=dtype))
        t0 += size
    ref, wraps, sats = reference_lif(a[:, 0], op)
    np.testing.assert_array_equal(torch.cat(got)[:, 0].numpy(), ref)
    assert (state.wraps, state.saturations) == (wraps, sats)


def test_drives_past_the_float64_bound_run_in_int64() -> None:
    """|A|·2^6 ≥ 2^53: the float64 state could round, so the chunk runs in int64 (and stays there)."""
    rng = np.random.default_rng(5)
    op = LoihiLIF("p", (ir.Edge("x", 1),), threshold=300, i_decay=1000, v_decay=100, bias=np.zeros(6),
                  scale=np.ones(6))
    a = rng.integers(-2**20, 2**20, (12, 6)).astype(float)
    a[3, 2] = 2.0**50 + 2.0**30
    state = initial_state((1, 6), torch.device("cpu"))
    got = run_chunk(op, torch.from_numpy(a[:, None]), state, 0, LifConstants.of(op, torch.device("cpu")))
    assert state.u.dtype == torch.int64
    np.testing.assert_array_equal(got[:, 0].numpy(), reference_lif(a, op)[0])
