"""Diagnostics of legalize-threshold: thresholds that are not positive and finite, listed with their numbers."""

from __future__ import annotations

import numpy as np

from snncompile import ir
from snncompile.errors import Diagnostic

MAX_LISTED = 8
"""Offending channels/neurons spelled out per node; the rest are counted."""

THRESHOLD_HINT = ("a threshold ≤ 0 fires without input and cannot be rescaled (θ0/θ needs θ > 0); an infinite or "
                  "NaN one usually comes from a norm weight γ ≈ 0. Check the folded norm (FOLDING.md §6.3), "
                  "remove constant neurons, or target hardware with per-neuron thresholds")


def _ok(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values > 0)


def _num(value: float) -> str:
    return f"{value:.4g}"


def _uniform(values: np.ndarray) -> bool:
    return bool(np.array_equal(values, np.full_like(values, values.flat[0]), equal_nan=True))


def _level_items(theta: np.ndarray, prefix: str) -> list[str]:
    """'channel c: θ = v' for a channel that is bad and uniform, else 'neuron (i, ..): θ = v' per neuron."""
    bad = ~_ok(theta)
    if theta.ndim < 2:
        return [f"{prefix}neuron {i}: θ = {_num(theta[i])}" for i in np.flatnonzero(bad)]
    items = []
    for ch in np.flatnonzero(bad.reshape(theta.shape[0], -1).any(axis=1)):
        if bad[ch].all() and _uniform(theta[ch]):
            items.append(f"{prefix}channel {ch}: θ = {_num(theta[ch].flat[0])}")
            continue
        for idx in zip(*np.nonzero(bad[ch]), strict=True):
            where = ", ".join(str(int(i)) for i in (ch, *idx))
            items.append(f"{prefix}neuron ({where}): θ = {_num(theta[(ch, *idx)])}")
    return items


def describe_bad_thresholds(theta: np.ndarray) -> list[str]:
    """Every offending entry of a [K, ...] threshold array, grouped by channel where possible."""
    levels = theta.shape[0]
    return [item for k in range(levels)
            for item in _level_items(theta[k], f"level {k}, " if levels > 1 else "")]


def threshold_diagnostics(graph: ir.Graph) -> list[Diagnostic]:
    """SNC530 for every LIF population with a threshold that is ≤ 0, zero, infinite or NaN."""
    diags = []
    for node in graph.of_kind(ir.LIF):
        theta = node.threshold  # type: ignore[attr-defined]
        n_bad = int(np.sum(~_ok(theta)))
        if not n_bad:
            continue
        items = describe_bad_thresholds(theta)
        listed = "; ".join(items[:MAX_LISTED])
        more = f"; and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
        diags.append(Diagnostic("SNC530", f"{n_bad} of {theta.size} thresholds are not positive and finite: "
                                f"{listed}{more}", node=node.name, origin=node.origin or None,
                                hint=THRESHOLD_HINT))
    return diags
