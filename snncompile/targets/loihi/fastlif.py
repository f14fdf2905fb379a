"""An optional C build of the LoihiLIF time loop (the simulator's hot path), compiled on first use with the
system C compiler and loaded with ctypes; without a compiler the numpy loop in numerics.py is used.

The C code states the same int64 equations as LoihiLIF's docstring (C's `/` truncates toward zero, which is
Lava's sgn(x)·⌊|x| / 2^12⌋); tests check both paths against a step-by-step int64 reference.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

SOURCE = r"""
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
void lif_run(const double *a, double *out, int64_t steps, int64_t width, const int64_t *bias64,
             int64_t keep_u, int64_t keep_v, int64_t theta64, int64_t period, int64_t phase, int64_t *events) {
    const int64_t lim = (1LL << 23) - 1, half = 1LL << 23, full = 1LL << 24;
    int64_t *u = calloc(width, sizeof(int64_t)), *v = calloc(width, sizeof(int64_t));
    int64_t wraps = 0, sats = 0;
    for (int64_t t = 0; t < steps; t++) {
        if (period > 0 && t % period == phase % period) {
            memset(u, 0, width * sizeof(int64_t));
            memset(v, 0, width * sizeof(int64_t));
        }
        const double *at = a + t * width;
        double *ot = out + t * width;
        for (int64_t n = 0; n < width; n++) {
            int64_t u1 = (u[n] * keep_u) / 4096 + (int64_t)at[n] * 64;
            if (u1 > half) { u1 -= full; wraps++; } else if (u1 <= -half) { u1 += full; wraps++; }
            u[n] = u1;
            int64_t v1 = (v[n] * keep_v) / 4096 + u1 + bias64[n];
            if (v1 > lim) { v1 = lim; sats++; } else if (v1 < -lim) { v1 = -lim; sats++; }
            if (v1 > theta64) { ot[n] = 1.0; v1 = 0; } else { ot[n] = 0.0; }
            v[n] = v1;
        }
    }
    events[0] += wraps;
    events[1] += sats;
    free(u);
    free(v);
}
"""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snncompile"


@cache
def load() -> ctypes.CDLL | None:
    """The compiled kernel, or None when no C compiler is available (or SNNCOMPILE_NO_C=1)."""
    if os.environ.get("SNNCOMPILE_NO_C") == "1":
        return None
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:16]
    target = _cache_dir() / f"loihi_lif_{digest}.so"
    try:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                src, built = Path(tmp) / "lif.c", Path(tmp) / "lif.so"
                src.write_text(SOURCE)
                subprocess.run([os.environ.get("CC", "cc"), "-O2", "-shared", "-fPIC", "-o", str(built), str(src)],
                               check=True, capture_output=True, timeout=60)
                os.replace(built, target)  # atomic: parallel test workers may race to build it
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError):
        return None
    lib.lif_run.restype = None
    lib.lif_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                            ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                            ctypes.c_void_p]
    return lib


def run(a: np.ndarray, bias64: np.ndarray, keep_u: int, keep_v: int, theta64: int, period: int, phase: int,
        events: dict[str, int] | None) -> np.ndarray | None:
    """Spikes [T, W] for A [T, W] (float64 integers), or None when the C kernel is unavailable."""
    lib = load()
    if lib is None:
        return None
    a = np.ascontiguousarray(a, dtype=np.float64)
    bias = np.ascontiguousarray(bias64, dtype=np.int64)
    out = np.empty_like(a)
    counts = np.zeros(2, dtype=np.int64)
    lib.lif_run(a.ctypes.data, out.ctypes.data, a.shape[0], a.shape[1], bias.ctypes.data, keep_u, keep_v, theta64,
                period, phase, counts.ctypes.data)
    if events is not None:
        events["wraps"] = events.get("wraps", 0) + int(counts[0])
        events["saturations"] = events.get("saturations", 0) + int(counts[1])
    return out
