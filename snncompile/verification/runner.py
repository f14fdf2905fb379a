"""Runs every verification stage on the same inputs, chunk by chunk, and collects agreement and statistics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from snncompile import ir
from snncompile import progress as progress_module
from snncompile.verification.agreement import Activity, PairAgreement
from snncompile.verification.data import VerifyData
from snncompile.verification.stages import GraphStage, Layer, Stage, StageOutput

MEMORY_BUDGET = 1 << 30
"""Bytes the simulator may hold per chunk, counted as if it kept every node's [T, B, ...] output (an upper bound:
it frees each value after its last reader)."""
MAX_BATCH = 150

log = logging.getLogger("snncompile.verification")


@dataclass
class RunStats:
    """Everything accumulated over the chunks of one verification run."""

    stages: list[Stage]
    layers: list[Layer]
    pairs: list[PairAgreement]
    activity: dict[str, dict[str, Activity]]
    correct: dict[str, int] = field(default_factory=dict)
    logit_error: dict[str, float] = field(default_factory=dict)
    events: dict[str, dict[str, int]] = field(default_factory=dict)
    rasters: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    populations: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)
    """Per stage, per population of its graph: (spikes, decisions) over all chunks."""
    extra: list[tuple[Stage, int]] = field(default_factory=list)
    """Stages run on a subset only (Lava), with their sample counts."""
    logit_scale: float = 0.0
    """Largest |score| of the reference stage (the scale of the readout tolerance)."""
    not_recorded: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per stage, the layers it could not record and why."""
    reference_dtype: str = "float64"
    scores_from: str | None = None
    """How classes were scored: "readout" (logits [B, K]), "spike counts" ([T, B, K] spikes), None (neither)."""
    labelled: bool = False
    """Every chunk came with labels."""
    input_nonzero: int = 0
    input_values: int = 0
    """Nonzero values and all values of the input frames read (the input's event rate)."""
    head: np.ndarray | None = None
    """The first samples' frames [T, k, ...] kept for stages run on a subset (Lava)."""


def stage_pairs(stages: list[Stage]) -> list[PairAgreement]:
    """Each stage against the one before it, and every later stage against the first (the reference).
    A pair is expected to agree exactly when every stage after `a` up to `b` is exact."""
    pairs = []
    for i in range(1, len(stages)):
        for j in sorted({i - 1, 0}):
            exact = all(s.exact for s in stages[j + 1:i + 1])
            pairs.append(PairAgreement(stages[j].name, stages[i].name, exact))
    return pairs


def chunk_size(stages: list[Stage], timesteps: int, requested: int | None) -> int:
    """Samples per chunk: what the largest stage graph can simulate within MEMORY_BUDGET."""
    if requested:
        return requested
    per_sample = 1
    for s in stages:
        if isinstance(s, GraphStage) and s.graph is not None:
            values = sum(int(np.prod(shape)) for shape in s.graph.shapes.values())
            per_sample = max(per_sample, values * (timesteps + s.latency) * 8 * 2)
    return int(np.clip(MEMORY_BUDGET // per_sample, 1, MAX_BATCH))


def _accumulate(stats: RunStats, outputs: dict[str, StageOutput], labels: np.ndarray | None, offset: int) -> None:
    ref = next(iter(outputs.values()))
    for pair in stats.pairs:
        sa, sb = outputs[pair.a].spikes, outputs[pair.b].spikes
        for la in stats.layers:
            if la.name in sa and la.name in sb:
                pair.update(la, sa[la.name], sb[la.name], offset)
    stats.reference_dtype = str(ref.dtype).removeprefix("torch.")
    if ref.logits is not None and ref.logits.size:
        stats.logit_scale = max(stats.logit_scale, float(np.max(np.abs(ref.logits))))
    for name, out in outputs.items():
        if out.not_recorded:
            stats.not_recorded.setdefault(name, {}).update(out.not_recorded)
        for la in stats.layers:
            if la.name in out.spikes:
                stats.activity[name].setdefault(la.name, Activity(la.levels)).update(out.spikes[la.name])
                if offset == 0:
                    stats.rasters.setdefault(name, {})[la.name] = out.spikes[la.name][:, 0].copy()
        seen = stats.populations.setdefault(name, {})
        for pop, (total, count) in out.populations.items():
            before = seen.get(pop, (0.0, 0))
            seen[pop] = (before[0] + total, before[1] + count)
        for layer, found in out.events.items():
            counts = stats.events.setdefault(layer, {})
            for k, v in found.items():
                counts[k] = counts.get(k, 0) + v
        if out.logits is None:
            continue
        if labels is not None:
            stats.correct[name] = stats.correct.get(name, 0) + int(np.sum(out.logits.argmax(1) == labels))
        if ref.logits is not None and ref.logits.shape == out.logits.shape:
            err = float(np.max(np.abs(out.logits - ref.logits))) if out.logits.size else 0.0
            stats.logit_error[name] = max(stats.logit_error.get(name, 0.0), err)


def new_stats(stages: list[Stage], layers: list[Layer]) -> RunStats:
    """Empty statistics for these stages and layers."""
    return RunStats(stages, layers, stage_pairs(stages), {s.name: {} for s in stages})


def run_chunk(stats: RunStats, x: np.ndarray, labels: np.ndarray | None, offset: int, keep: int = 0,
              advance: progress_module.Advance | None = None) -> None:
    """Every stage of `stats` on one chunk x [T, B, ...] whose first sample is sample `offset` of the data,
    accumulated into `stats`, with the chunk's share of the first `keep` samples in stats.head; `advance` moves
    a progress bar by a share of the chunk after every stage (verification.shard runs the same function in
    worker processes, one shard at a time)."""
    stats.labelled = (stats.labelled or stats.samples == 0) and labels is not None
    stats.input_nonzero += int(np.count_nonzero(x))
    stats.input_values += int(x.size)
    if offset < keep:
        part = x[:, :keep - offset]
        stats.head = part.copy() if stats.head is None else np.concatenate([stats.head, part], axis=1)
    stages = stats.stages
    outputs: dict[str, StageOutput] = {}
    dtype = torch.float64
    for stage in stages:  # the bar moves after every stage of every chunk: a share of the chunk each
        if advance is not None:
            advance(0, description=f"verify: stage {stage.name}, samples {offset}–{offset + x.shape[1]}")
        start = time.perf_counter()
        outputs[stage.name] = stage.run(x, dtype)
        stats.seconds[stage.name] = stats.seconds.get(stage.name, 0.0) + time.perf_counter() - start
        if advance is not None:
            advance(x.shape[1] / len(stages))
        dtype = outputs[stage.name].dtype if stage is stages[0] else dtype
    _accumulate(stats, outputs, labels, offset)
    stats.samples += x.shape[1]


def run_stages(stages: list[Stage], layers: list[Layer], data: VerifyData, batch: int | None = None,
               progress: bool = False, keep: int = 0) -> RunStats:
    """Every stage on every chunk of `data` (read chunk by chunk from its source: memory holds one chunk), the
    same inputs for all; statistics accumulated per chunk; the first `keep` samples' frames kept in stats.head."""
    stats = new_stats(stages, layers)
    size = chunk_size(stages, data.timesteps, batch)
    with progress_module.shown(progress), progress_module.task("verify", data.samples, "samples") as advance:
        for x, labels in data.chunks(size):
            run_chunk(stats, x, labels, stats.samples, keep, advance)
    for stage in stages:
        log.info("stage %s: %d samples in %.2f s", stage.name, stats.samples, stats.seconds.get(stage.name, 0.0))
    return stats


def compare_extra(stats: RunStats, stage: Stage, base: str, x: np.ndarray) -> PairAgreement:
    """Run one more stage (Lava) on a subset x and compare it with stage `base` run again on the same x."""
    reference = next(s for s in stats.stages if s.name == base)
    pair = PairAgreement(base, stage.name, stage.exact)
    start = time.perf_counter()
    got = stage.run(x, torch.float64)
    stats.seconds[stage.name] = time.perf_counter() - start
    want = reference.run(x, torch.float64)
    activity = stats.activity.setdefault(stage.name, {})
    for la in stats.layers:
        if la.name in got.spikes and la.name in want.spikes:
            pair.update(la, want.spikes[la.name], got.spikes[la.name], 0)
            activity.setdefault(la.name, Activity(la.levels)).update(got.spikes[la.name])
    stats.pairs.append(pair)
    stats.extra.append((stage, int(x.shape[1])))
    return pair


def graph_of(stages: list[Stage], name: str) -> ir.Graph | None:
    return next((s.graph for s in stages if s.name == name and isinstance(s, GraphStage)), None)
