"""Merging the statistics of shards: equal to the single run, whatever the order and grouping of the merges."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from helpers.fake_stages import LAYERS, frames, stages
from hypothesis import given, settings
from hypothesis import strategies as st

from snncompile.errors import InternalError
from snncompile.verification.data import VerifyData
from snncompile.verification.merge import OrderedMerge, Partial, merge, merge_in_order
from snncompile.verification.runner import RunStats, run_stages
from snncompile.verification.shard import InProcess, plan, run_shard, run_sharded, shards


def snapshot(stats: RunStats) -> dict[str, Any]:
    """Every statistic of a run (timings aside) as plain values, dict orders included."""
    def arrays(value: Any) -> Any:
        return None if value is None else (value.dtype.str, value.shape, value.tolist())

    return {
        "pairs": [(p.a, p.b, p.expect_exact, list(p.mismatches.items()), list(p.decisions.items()),
                   [(k, d.to_json()) for k, d in p.first.items()]) for p in stats.pairs],
        "activity": [(s, [(k, a.levels, arrays(a.counts), arrays(a.always), a.steps) for k, a in acts.items()])
                     for s, acts in stats.activity.items()],
        "correct": list(stats.correct.items()), "logit_error": list(stats.logit_error.items()),
        "events": [(k, list(v.items())) for k, v in stats.events.items()],
        "rasters": [(s, [(k, arrays(v)) for k, v in r.items()]) for s, r in stats.rasters.items()],
        "samples": stats.samples, "populations": [(s, list(p.items())) for s, p in stats.populations.items()],
        "logit_scale": stats.logit_scale, "not_recorded": [(s, list(r.items())) for s, r in stats.not_recorded.items()],
        "reference_dtype": stats.reference_dtype, "stage_seconds": sorted(stats.seconds),
    }


def _data(samples: int, seed: int) -> VerifyData:
    labels = np.random.default_rng(seed + 1).integers(0, 4, samples)
    return VerifyData("fake", frames(samples, seed=seed), labels, None)


def _partials(data: VerifyData, size: int, flip: float = 0.2, missing: bool = False) -> list[Partial]:
    return [run_shard(stages(flip, missing), LAYERS, s) for s in shards(data, plan(data.samples, size))]


def _random_tree(parts: list[Partial], rng: random.Random) -> Partial:
    """Merge neighbouring ranges in a random grouping and argument order until one is left."""
    pool = sorted(parts, key=lambda p: p.start)
    while len(pool) > 1:
        i = rng.randrange(len(pool) - 1)
        a, b = (pool[i], pool[i + 1]) if rng.random() < 0.5 else (pool[i + 1], pool[i])
        pool[i:i + 2] = [merge(a, b)]
    return pool[0]


@settings(max_examples=40, deadline=None)
@given(samples=st.integers(1, 14), size=st.integers(1, 6), seed=st.integers(0, 10_000),
       flip=st.sampled_from([0.0, 0.05, 0.5]), missing=st.booleans(), order=st.randoms(use_true_random=False))
def test_any_merge_order_and_grouping_gives_the_single_run(samples: int, size: int, seed: int, flip: float,
                                                           missing: bool, order: random.Random) -> None:
    data = _data(samples, seed)
    single = run_stages(stages(flip, missing), LAYERS, data, batch=size)
    parts = _partials(data, size, flip, missing)
    tree = _random_tree(parts, order)
    assert (tree.start, tree.stop) == (0, samples)
    assert snapshot(tree.stats) == snapshot(single)
    assert snapshot(merge_in_order(reversed(parts)).stats) == snapshot(single)


@settings(max_examples=25, deadline=None)
@given(samples=st.integers(3, 14), size=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_merge_is_associative_and_commutative(samples: int, size: int, seed: int) -> None:
    a, b, c, *_ = _partials(_data(samples, seed), max(1, min(size, samples // 3)))
    left, right = merge(merge(a, b), c), merge(a, merge(b, c))
    assert snapshot(left.stats) == snapshot(right.stats)
    assert snapshot(merge(a, b).stats) == snapshot(merge(b, a).stats)


def test_the_first_divergence_is_the_earliest_step_then_the_lowest_global_sample() -> None:
    data = _data(12, seed=4)
    single = run_stages(stages(0.3), LAYERS, data, batch=3)
    merged = merge_in_order(_partials(data, 3, flip=0.3))
    first = merged.stats.pairs[-1].first_divergence(LAYERS)
    assert first is not None and first.layer == "b"
    assert first == single.pairs[-1].first_divergence(LAYERS)
    diverging = [(t, s) for t in range(3) for s in range(12)
                 if np.any(_flipped(data, t, s))]
    assert (first.timestep, first.sample) == min(diverging)


def _flipped(data: VerifyData, t: int, s: int) -> np.ndarray:
    ref, flipped = stages(0.3)[0], stages(0.3)[2]
    x = data.frames[:, s:s + 1]
    return ref.run(x, np.float64).spikes["b"][t] != flipped.run(x, np.float64).spikes["b"][t]  # type: ignore[arg-type]


def test_ordered_merge_waits_for_the_earlier_ranges() -> None:
    data = _data(10, seed=2)
    parts = _partials(data, 3)
    merged = OrderedMerge([(p.start, p.stop) for p in parts])
    for part in reversed(parts):
        assert not merged.complete
        merged.add(part)
    assert merged.complete and merged.result is not None
    assert snapshot(merged.result.stats) == snapshot(run_stages(stages(0.2), LAYERS, data, batch=3))


def test_overlapping_distant_or_duplicate_ranges_are_refused() -> None:
    a, b, c = _partials(_data(6, seed=1), 2)
    with pytest.raises(InternalError, match="not adjacent"):
        merge(a, merge(a, b))
    with pytest.raises(InternalError, match="not adjacent"):
        merge(a, c)
    merged = OrderedMerge([(0, 2), (2, 4)])
    merged.add(b)
    with pytest.raises(InternalError, match="two partial results"):
        merged.add(b)


def test_in_process_executor_gives_the_single_run_and_names_the_shards() -> None:
    data = _data(11, seed=5)
    single = run_stages(stages(0.2), LAYERS, data, batch=4)
    stats, execution = run_sharded(stages(0.2), LAYERS, data, 4, False, InProcess())
    assert snapshot(stats) == snapshot(single)
    assert execution["shards"] == 3 and execution["executor"] == "in-process" and len(execution["hosts"]) == 1
