"""Per-layer spike statistics of a stage and agreement between two stages, with the first divergence."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncompile.verification.stages import Layer


@dataclass
class Activity:
    """Running spike statistics of one layer in one stage: per-neuron spike counts and whether each
    neuron fired at its maximum (all levels) at every step seen."""

    levels: int
    counts: np.ndarray | None = None
    always: np.ndarray | None = None
    steps: int = 0

    def update(self, spikes: np.ndarray) -> None:
        """spikes [T, B, *shape]."""
        flat = spikes.reshape(-1, *spikes.shape[2:])
        counts, full = flat.sum(0), np.all(flat >= self.levels, axis=0)
        self.counts = counts if self.counts is None else self.counts + counts
        self.always = full if self.always is None else self.always & full
        self.steps += flat.shape[0]

    @property
    def rates(self) -> np.ndarray:
        """Per-neuron spikes per step (0 … levels)."""
        return np.zeros(0) if self.counts is None else self.counts / max(self.steps, 1)

    @property
    def rate(self) -> float:
        return float(self.rates.mean()) if self.counts is not None else float("nan")

    @property
    def silent(self) -> int:
        """Neurons that never fired."""
        return 0 if self.counts is None else int(np.count_nonzero(self.counts == 0))

    @property
    def saturated(self) -> int:
        """Neurons that fired at every step (at every level) of every sample."""
        return 0 if self.always is None else int(np.count_nonzero(self.always))


@dataclass(frozen=True)
class Divergence:
    """The earliest differing spike decision of a layer: timestep, sample, neuron index, both values."""

    layer: str
    origin: str
    timestep: int
    sample: int
    neuron: tuple[int, ...]
    values: tuple[float, float]

    def key(self) -> tuple[int, int]:
        return (self.timestep, self.sample)

    def describe(self) -> str:
        where = ",".join(map(str, self.neuron))
        return (f"layer {self.origin or self.layer} (%{self.layer}), neuron [{where}], timestep {self.timestep}, "
                f"sample {self.sample}: {self.values[0]:g} vs {self.values[1]:g}")

    def to_json(self) -> dict[str, object]:
        return {"layer": self.layer, "origin": self.origin, "timestep": self.timestep, "sample": self.sample,
                "neuron": list(self.neuron), "values": list(self.values)}


@dataclass
class PairAgreement:
    """Spike decisions of stage `b` against stage `a`, per layer, over every chunk seen."""

    a: str
    b: str
    expect_exact: bool
    mismatches: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    first: dict[str, Divergence] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.a}→{self.b}"

    def update(self, layer: Layer, sa: np.ndarray, sb: np.ndarray, offset: int) -> None:
        """Compare one chunk ([T, B, ...] each); `offset` is the chunk's first sample index."""
        diff = sa != sb
        count = int(np.count_nonzero(diff))
        self.mismatches[layer.name] = self.mismatches.get(layer.name, 0) + count
        self.decisions[layer.name] = self.decisions.get(layer.name, 0) + int(diff.size)
        if not count:
            return
        index = np.unravel_index(int(np.argmax(diff)), diff.shape)  # C order: earliest step, then sample
        t, b, neuron = int(index[0]), int(index[1]) + offset, tuple(int(i) for i in index[2:])
        found = Divergence(layer.name, layer.origin, t, b, neuron, (float(sa[index]), float(sb[index])))
        if layer.name not in self.first or found.key() < self.first[layer.name].key():
            self.first[layer.name] = found

    def agreement(self, layer: str) -> float | None:
        n = self.decisions.get(layer)
        return None if not n else 1.0 - self.mismatches[layer] / n

    @property
    def overall(self) -> float | None:
        total = sum(self.decisions.values())
        return None if not total else 1.0 - sum(self.mismatches.values()) / total

    def first_divergence(self, layers: list[Layer]) -> Divergence | None:
        """The first layer in topological order with a differing decision, at its earliest timestep."""
        for la in layers:
            if la.name in self.first:
                return self.first[la.name]
        return None

    def to_json(self, layers: list[Layer]) -> dict[str, object]:
        first = self.first_divergence(layers)
        return {"a": self.a, "b": self.b, "expect_exact": self.expect_exact, "agreement": self.overall,
                "mismatches": sum(self.mismatches.values()), "decisions": sum(self.decisions.values()),
                "layers_compared": len(self.decisions),
                "diverging_layers": sum(1 for v in self.mismatches.values() if v),
                "first_divergence": None if first is None else first.to_json()}
