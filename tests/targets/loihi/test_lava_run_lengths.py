"""The Lava runtime's net.run calls: whole samples, few calls, the pipeline's drain in the last one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "snncompile" / "targets" / "loihi"))
import lava_runtime  # standalone on purpose: it imports nothing from snncompile


@given(per_sample=st.integers(1, 40), samples=st.integers(0, 200), latency=st.integers(0, 30))
def test_calls_cover_every_step_in_whole_samples(per_sample: int, samples: int, latency: int) -> None:
    steps = per_sample * samples + latency
    lengths = lava_runtime.run_lengths(per_sample, samples, steps)
    assert sum(lengths) == steps and all(n > 0 for n in lengths)
    assert len(lengths) <= lava_runtime.RUNS
    assert all(n % per_sample == 0 for n in lengths[:-1])  # progress lands on sample boundaries
    assert not lengths or (lengths[-1] - latency) % per_sample == 0


@pytest.mark.parametrize(("samples", "calls"), [(1, 1), (4, 1), (16, 1), (17, 9), (100, 10), (450, 10)])
def test_small_runs_take_one_call_and_long_ones_at_most_ten(samples: int, calls: int) -> None:
    assert len(lava_runtime.run_lengths(4, samples, 4 * samples + 6)) == calls
