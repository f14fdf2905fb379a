"""Merging the statistics of shards: equal to the single run, whatever the order and grouping of the merges."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from helpers.fake_stages import LAYERS, fake_data, frames, stages
from hypothesis import given, settings
from hypothesis import strategies as st

from snncompile.errors import InternalError
from snncompile.verification import shard as shard_module
from snncompile.verification.data import VerifyData
from snncompile.verification.merge import OrderedMerge, Partial, merge, merge_in_order
from snncompile.verification.runner import RunStats, run_stages
from snncompile.verification.shard import InProcess, Shard, run_shard, run_sharded, shards, window


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
        "scores_from": stats.scores_from, "labelled": stats.labelled, "input_nonzero": stats.input_nonzero,
        "input_values": stats.input_values, "head": arrays(stats.head),
    }


def _data(samples: int, seed: int, labelled: bool = True) -> VerifyData:
    labels = np.random.default_rng(seed + 1).integers(0, 4, samples) if labelled else None
    return fake_data(frames(samples, seed=seed), labels)


def _partials(data: VerifyData, size: int, flip: float = 0.2, missing: bool = False, keep: int = 0
              ) -> list[Partial]:
    return [run_shard(stages(flip, missing), LAYERS, s) for s in shards(data.chunks(size), keep)]


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
       flip=st.sampled_from([0.0, 0.05, 0.5]), missing=st.booleans(), order=st.randoms(use_true_random=False),
       keep=st.integers(0, 9), labelled=st.booleans())
def test_any_merge_order_and_grouping_gives_the_single_run(samples: int, size: int, seed: int, flip: float,
                                                           missing: bool, order: random.Random, keep: int,
                                                           labelled: bool) -> None:
    data = _data(samples, seed, labelled)
    single = run_stages(stages(flip, missing), LAYERS, data, batch=size, keep=keep)
    assert single.labelled == labelled and (single.head is None) == (keep == 0)
    parts = _partials(data, size, flip, missing, keep)
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
    merged = OrderedMerge()
    for waiting, part in enumerate(reversed(parts)):
        assert merged.result is None and merged.held() == waiting
        merged.add(part)
    assert merged.held() == 0 and merged.result is not None
    assert snapshot(merged.result.stats) == snapshot(run_stages(stages(0.2), LAYERS, data, batch=3))


def test_overlapping_distant_or_duplicate_ranges_are_refused() -> None:
    a, b, c = _partials(_data(6, seed=1), 2)
    with pytest.raises(InternalError, match="not adjacent"):
        merge(a, merge(a, b))
    with pytest.raises(InternalError, match="not adjacent"):
        merge(a, c)
    merged = OrderedMerge()
    merged.add(b)
    with pytest.raises(InternalError, match="two partial results"):
        merged.add(b)
    merged.add(a)
    with pytest.raises(InternalError, match="two partial results"):  # a range already merged
        merged.add(a)


def test_in_process_executor_gives_the_single_run_and_names_the_shards() -> None:
    data = _data(11, seed=5)
    single = run_stages(stages(0.2), LAYERS, data, batch=4)
    stats, execution = run_sharded(stages(0.2), LAYERS, data, 4, False, InProcess())
    assert snapshot(stats) == snapshot(single)
    assert execution["shards"] == 3 and execution["executor"] == "in-process" and len(execution["hosts"]) == 1


def test_a_one_shot_generator_is_read_once_in_chunks_as_the_shards_are_handed_out() -> None:
    data = fake_data(frames(11, seed=6), np.arange(11) % 4)
    x, labels = data.source.x, data.source.y  # type: ignore[attr-defined]
    single = run_stages(stages(0.2), LAYERS, data, batch=4, keep=5)
    read: list[int] = []

    def batches() -> Any:
        for start in range(0, 11, 3):
            read.append(start)
            yield x[:, start:start + 3], labels[start:start + 3]

    source = VerifyData(_generator_source(batches()), (11,), 3, None, None)
    assert source.samples is None  # a generator's length is not known
    stats, execution = run_sharded(stages(0.2), LAYERS, source, 4, False, InProcess(), keep=5)
    assert read == [0, 3, 6, 9] and execution["shards"] == 3
    assert snapshot(stats) == snapshot(single)


def _generator_source(batches: Any) -> Any:
    from snncompile.verification.source_module import as_source

    return as_source(batches, "generator", input_shape=(11,), timesteps=3)


def test_the_parent_reads_no_further_ahead_than_the_window_while_the_first_shard_is_slow() -> None:
    """Shard 0 finishes last: the later partials wait for it, and they count against the window, so the calling
    process never holds more than `limit` shards' worth of inputs and unmerged partials."""
    read: list[int] = []

    def work() -> Any:
        for start in range(12):
            read.append(start)
            yield Shard(start, start + 1, frames(1, seed=start), None)

    class Done:  # a finished task's handle (hashable by identity, as futures and Ray references are)
        def __init__(self, shard: Shard) -> None:
            self.part = run_shard(stages(), LAYERS, shard)

    def slow_first(pending: set[Done]) -> list[Done]:
        later = sorted((d for d in pending if d.part.start), key=lambda d: d.part.start)
        return later[:1] or list(pending)

    merged = OrderedMerge()
    ahead = []
    for part in window(Done, lambda d: d.part, work(), 3, slow_first, merged.held):
        merged.add(part)
        ahead.append(len(read) - (merged.result.stop if merged.result is not None else 0))
    assert merged.result is not None and (merged.result.start, merged.result.stop) == (0, 12)
    assert max(ahead) <= 3 and len(read) == 12


def test_the_bar_advances_as_shards_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[tuple[float, str]] = []

    @contextmanager
    def task(description: str, total: float | None = None, unit: str = "steps") -> Iterator[Any]:
        assert (description, total, unit) == ("verify", 10, "samples")
        yield lambda n=1, **fields: steps.append((n, fields.get("description", "")))

    monkeypatch.setattr(shard_module.progress_module, "task", task)
    run_sharded(stages(), LAYERS, _data(10, seed=3), 4, True, InProcess())
    assert steps == [(4, "verify: 1 shards done on 1 in-process"), (4, "verify: 2 shards done on 1 in-process"),
                     (2, "verify: 3 shards done on 1 in-process")]
