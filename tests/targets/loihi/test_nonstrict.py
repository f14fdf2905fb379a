"""The ≥ encoding (vThMant − 1) is exact on membranes that stay on the 64-grid, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.targets.loihi.numerics import lif_kernel
from snncompile.targets.loihi.ops import LoihiLIF


def direct_if(a: np.ndarray, vth: int, bias: int, v_decay: int) -> tuple[np.ndarray, int]:
    """v = dec(v) + 64·A + 64·b; s = [v ≥ 64·vth]; v := 0 on a spike. Returns spikes and the number of exact ties."""
    v = np.zeros(a.shape[1], dtype=np.int64)
    out, ties = np.zeros(a.shape), 0
    for t in range(a.shape[0]):
        v = np.trunc(v * (4096 - v_decay) / 4096).astype(np.int64) + 64 * a[t].astype(np.int64) + 64 * bias
        s = v >= 64 * vth
        ties += int(np.sum(v == 64 * vth))
        out[t] = s
        v[s] = 0
    return out, ties


@pytest.mark.parametrize("v_decay", [0, 4096], ids=["if", "memoryless"])
@pytest.mark.parametrize("seed", range(4))
def test_threshold_minus_one_reproduces_non_strict_firing(v_decay: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vth, bias = int(rng.integers(4, 40)), int(rng.integers(-3, 4))
    a = rng.integers(-vth // 2, vth + vth // 2 + 1, (60, 500)).astype(float)  # v often hits 64·vth exactly
    op = LoihiLIF("p", (), threshold=vth - 1, i_decay=4096, v_decay=v_decay, bias=np.full(500, float(bias)),
                  scale=np.ones(500))
    want, ties = direct_if(a, vth, bias, v_decay)
    np.testing.assert_array_equal(lif_kernel(a, op, batch=1), want)
    assert ties > 100 and 0.05 < want.mean() < 0.95  # the ties are what a strict encoding would get wrong
    strict = lif_kernel(a, op.replace(threshold=vth), batch=1)
    assert np.any(strict != want)
