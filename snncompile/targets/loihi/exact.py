"""Exact integer representations of a netx layer: the common threshold scale and the grid of the membrane.

With weights in threshold units u = ρ·W/q (ρ = gain/θ, q the source's input scale) and biases ρ·b, the
layer is exact at an integer threshold vth when every vth·u is a multiple of the weight step (2 for 8-bit
even weights) and every vth·ρ·b an integer, all within range: then 64·vth·h/θ is the integer membrane,
exactly. vth0 is the smallest such integer (the lcm of the denominators); every multiple is exact too, and
vth = vth0·2^a with the largest a that fits gives the most trailing zero bits (§ below).

Leaky dynamics: with a decay keep/4096 = m/2^j (m odd) per step, the integer membrane truncates nothing
during n decays while every integer it holds is a multiple of 2^(j·n), i.e. while v2(64·g) ≥ j·n, with g
the gcd of the layer's integer weights and biases (v2: the number of trailing zero bits). It stays on the
64-grid (where v ≥ 64·vth ⟺ v > 64·(vth − 1), the ≥ encoding) while v2(g) ≥ j·n. A sample needs n = T − 1.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from snncompile.targets.loihi.caps import DECAY_UNITY

if TYPE_CHECKING:
    from snncompile.targets.loihi.layer_quant import MemberPlan

RELATIVE_TOLERANCE = 1e-9
"""A float value counts as the rational p/r when it is within this relative distance (float rounding)."""


def denominator(x: float, limit: int) -> int | None:
    """The smallest r ≤ limit with x·r an integer (up to float rounding), else None."""
    if x == 0:
        return 1
    frac = Fraction(x).limit_denominator(limit)
    if abs(float(frac) - x) > RELATIVE_TOLERANCE * abs(x):
        return None
    return frac.denominator


def common_scale(values: list[np.ndarray], step: float, limit: int) -> int | None:
    """The smallest positive integer k ≤ limit with k·v/step an integer for every v, else None."""
    k = 1
    for array in values:
        for x in np.unique(np.abs(np.asarray(array, dtype=np.float64).reshape(-1))):
            if float(x * k / step).is_integer():
                continue
            r = denominator(float(x / step), limit)
            if r is None:
                return None
            k = k * r // math.gcd(k, r)
            if k > limit:
                return None
    return k


def exact_base(plans: list[MemberPlan], step: int, limit: int) -> tuple[int | None, str]:
    """vth0: the smallest integer threshold scale at which every weight of the layer (in threshold units) is a
    multiple of `step` and every bias an integer, if one ≤ limit exists; else None and which parameter has none."""
    weights = [w for p in plans for w in p.weights]
    base = common_scale(weights, step, limit)
    if base is None:
        return None, f"weights: no integer threshold scale ≤ {limit} makes every weight a multiple of {step}"
    biases = [p.bias * step for p in plans if p.bias is not None]  # k·b integral ⟺ k·(b·step) a multiple of step
    if biases:
        base = common_scale([*weights, *biases], step, limit)
        if base is None:
            return None, f"bias: no integer threshold scale ≤ {limit} makes every bias an integer with the weights"
    return base, ""


def largest_power_multiple(base: int, limit: float) -> int | None:
    """base·2^a with the largest a that stays ≤ limit (None when base itself is above it)."""
    if base > limit:
        return None
    k = base
    while 2 * k <= limit:
        k *= 2
    return k


def two_adic(n: int) -> int:
    """v2(n): trailing zero bits of a nonzero integer (0 treated as unbounded: 64)."""
    n = abs(int(n))
    return 64 if n == 0 else (n & -n).bit_length() - 1


def decay_bits(register: int) -> int:
    """j of keep/4096 = m/2^j (m odd) for a decay register D (keep = 4096 − D); 0 for keep 0 or 4096."""
    keep = DECAY_UNITY - register
    if keep in (0, DECAY_UNITY):
        return 0
    return 12 - two_adic(keep)


def integer_gcd(arrays: list[np.ndarray]) -> int:
    """gcd of every integer in the arrays (0 when all are zero)."""
    g = 0
    for a in arrays:
        values = np.unique(np.abs(np.asarray(a, dtype=np.int64).reshape(-1)))
        for v in values:
            g = math.gcd(g, int(v))
            if g == 1:
                return 1
    return g


def truncation_free_steps(g: int, bits_per_step: int, on_grid: bool) -> float:
    """How many decays the membrane takes without truncating (on_grid: while staying on the 64-grid)."""
    if bits_per_step == 0:
        return math.inf
    return (two_adic(g) + (0 if on_grid else 6)) // bits_per_step
