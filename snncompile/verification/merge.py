"""Exact merge of the verification statistics of disjoint sample ranges (the shards of verify --workers / --ray)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from snncompile.errors import InternalError
from snncompile.verification.agreement import Activity, Divergence, PairAgreement
from snncompile.verification.runner import RunStats

V = TypeVar("V")


@dataclass
class Partial:
    """The statistics of samples [start, stop) of the data: a RunStats whose `stages` list is empty (the stage
    objects stay with the caller; statistics refer to stages by name). `hosts`: where it was computed."""

    start: int
    stop: int
    stats: RunStats
    hosts: tuple[str, ...] = ()


def _keys(x: dict[str, V], y: dict[str, V]) -> list[str]:
    """x's keys, then y's new ones: the insertion order a single run over x's samples then y's produces."""
    return list(dict.fromkeys([*x, *y]))


def _combine(x: dict[str, V], y: dict[str, V], how: Callable[[V, V], V], empty: V) -> dict[str, V]:
    return {k: how(x.get(k, empty), y.get(k, empty)) for k in _keys(x, y)}


def _nested(x: dict[str, dict[str, V]], y: dict[str, dict[str, V]], how: Callable[[dict[str, V], dict[str, V]],
            dict[str, V]]) -> dict[str, dict[str, V]]:
    return {k: how(x.get(k, {}), y.get(k, {})) for k in _keys(x, y)}


def _add(a: V, b: V) -> V:
    return a + b  # type: ignore[operator]


def _max(a: float, b: float) -> float:
    return max(a, b)  # in this order, as the single run's max(accumulated, chunk) (NaN handling included)


def merge_activity(x: Activity | None, y: Activity | None) -> Activity:
    """Spike counts added, always-at-maximum ANDed, steps added (rates are counts / steps, so recomputed)."""
    if x is None or y is None:
        only = x if y is None else y
        assert only is not None
        return Activity(only.levels, None if only.counts is None else only.counts.copy(),
                        None if only.always is None else only.always.copy(), only.steps)
    counts = y.counts if x.counts is None else x.counts if y.counts is None else x.counts + y.counts
    always = y.always if x.always is None else x.always if y.always is None else x.always & y.always
    return Activity(x.levels, None if counts is None else np.array(counts),
                    None if always is None else np.array(always), x.steps + y.steps)


def _earliest(x: Divergence | None, y: Divergence | None) -> Divergence:
    if x is None or (y is not None and y.key() < x.key()):  # strict: a tie keeps x, as PairAgreement.update does
        assert y is not None
        return y
    return x


def merge_pair(x: PairAgreement, y: PairAgreement) -> PairAgreement:
    """Mismatches and decisions added per layer; per layer the earliest divergence (timestep, then global
    sample index; within one sample and step the neuron found first in C order)."""
    if (x.a, x.b) != (y.a, y.b):
        raise InternalError(f"merging statistics of different stage pairs {x.label} and {y.label}")
    out = PairAgreement(x.a, x.b, x.expect_exact)
    out.mismatches = _combine(x.mismatches, y.mismatches, _add, 0)
    out.decisions = _combine(x.decisions, y.decisions, _add, 0)
    out.first = {k: _earliest(x.first.get(k), y.first.get(k)) for k in _keys(x.first, y.first)}
    return out


def _population(a: tuple[float, int], b: tuple[float, int]) -> tuple[float, int]:
    return (a[0] + b[0], a[1] + b[1])


def _update(a: dict[str, V], b: dict[str, V]) -> dict[str, V]:
    return {**a, **b}


def merge(a: Partial, b: Partial) -> Partial:
    """The statistics of two adjacent ranges, as one run over the earlier range's samples and then the later's
    would have accumulated them: sums (mismatches, decisions, correct answers, spike counts, events, samples, input
    values and their nonzeros), maxima (readout error, score scale), the earliest divergence per layer, ANDed
    saturation masks and `labelled`; the kept first frames (head) joined in sample order; the rasters of
    sample 0, the reasons a layer was not recorded and the reference dtype as the later chunk left them.
    Commutative (the ranges are ordered by `start` first) and associative; bit-identical to the single run
    when folded chunk by chunk in sample order (merge_in_order: float sums are then added in the same order; in
    any other grouping they are equal as long as they are integers below 2^53, as spike counts are)."""
    lo, hi = (a, b) if a.start <= b.start else (b, a)
    if lo.stop != hi.start:
        raise InternalError(f"merging sample ranges [{lo.start}, {lo.stop}) and [{hi.start}, {hi.stop}) that are "
                            "not adjacent")
    x, y = lo.stats, hi.stats
    if len(x.pairs) != len(y.pairs):
        raise InternalError("merging statistics of different stage lists")
    out = RunStats(x.stages, x.layers, [merge_pair(p, q) for p, q in zip(x.pairs, y.pairs, strict=True)],
                   {s: {k: merge_activity(ax.get(k), ay.get(k)) for k in _keys(ax, ay)}
                    for s, ax, ay in ((s, x.activity.get(s, {}), y.activity.get(s, {}))
                                      for s in _keys(x.activity, y.activity))})
    out.correct = _combine(x.correct, y.correct, _add, 0)
    out.logit_error = _combine(x.logit_error, y.logit_error, _max, 0.0)
    out.events = _nested(x.events, y.events, lambda p, q: _combine(p, q, _add, 0))
    out.rasters = _nested(x.rasters, y.rasters, _update)
    out.seconds = _combine(x.seconds, y.seconds, _add, 0.0)
    out.samples = x.samples + y.samples
    out.populations = _nested(x.populations, y.populations, lambda p, q: _combine(p, q, _population, (0.0, 0)))
    out.extra = [*x.extra, *y.extra]
    out.logit_scale = _max(x.logit_scale, y.logit_scale)
    out.not_recorded = _nested(x.not_recorded, y.not_recorded, _update)
    out.reference_dtype = y.reference_dtype if y.samples else x.reference_dtype
    out.labelled = (x.labelled or not x.samples) and (y.labelled or not y.samples) and out.samples > 0
    out.input_nonzero = x.input_nonzero + y.input_nonzero
    out.input_values = x.input_values + y.input_values
    out.head = y.head if x.head is None else x.head if y.head is None else np.concatenate([x.head, y.head], axis=1)
    out.scores_from = y.scores_from if y.scores_from is not None else x.scores_from
    return Partial(lo.start, hi.stop, out, tuple(sorted({*lo.hosts, *hi.hosts})))


class OrderedMerge:
    """Folds partials of consecutive ranges from sample 0 on, arriving in any order, into one, strictly in sample
    order: a partial waits until the range before it has been merged, so the float additions happen in the single
    run's order and memory holds only the partials that arrived early (held())."""

    def __init__(self) -> None:
        self._next = 0
        self._waiting: dict[int, Partial] = {}
        self.result: Partial | None = None

    def add(self, part: Partial) -> None:
        if part.start in self._waiting or part.start < self._next:
            raise InternalError(f"two partial results for samples from {part.start}")
        self._waiting[part.start] = part
        while self._next in self._waiting:
            got = self._waiting.pop(self._next)
            self.result = got if self.result is None else merge(self.result, got)
            self._next = got.stop

    def held(self) -> int:
        """Partials that arrived before a range in front of them and wait to be merged."""
        return len(self._waiting)


def merge_in_order(parts: Iterable[Partial]) -> Partial:
    """Fold partials of consecutive ranges in sample order (merge(merge(p0, p1), p2) ...)."""
    ordered = sorted(parts, key=lambda p: p.start)
    if not ordered:
        raise InternalError("nothing to merge")
    result = ordered[0]
    for part in ordered[1:]:
        result = merge(result, part)
    return result
