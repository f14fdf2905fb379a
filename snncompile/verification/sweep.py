"""Weight-bit sweep: accuracy and spike agreement of a compile against the width of its integer weights."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from snncompile import progress
from snncompile.errors import error
from snncompile.targets import Target, resolve_target

SWEEP_FORMAT = "snncompile-sweep"


def parse_bits(spec: str) -> list[int]:
    """`4..8` (a range), `4,6,8` (a list) or `8`: the weight widths to compile, each in 2..8."""
    text = spec.replace(" ", "")
    match = re.fullmatch(r"(\d+)\.\.(\d+)", text)
    try:
        bits = list(range(int(match[1]), int(match[2]) + 1)) if match else [int(b) for b in text.split(",")]
    except ValueError:
        bits = []
    if not bits or any(not 2 <= b <= 8 for b in bits):
        raise ValueError(f"weight bits {spec!r}: expected LOW..HIGH, a comma list or one number, each in 2..8")
    return sorted(set(bits))


@dataclass
class SweepRow:
    """One weight width: accuracy of the reference and the compile, overall and per-layer spike agreement of the
    compile with the folded float graph (`lowered`), and how many layers were exact."""

    bits: int
    reference_accuracy: float | None
    accuracy: float | None
    agreement: float | None
    layers: dict[str, float | None] = field(default_factory=dict)
    exact_layers: int = 0
    netx_layers: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Sweep:
    model: str
    target: str
    data: str
    samples: int
    rows: list[SweepRow]

    def to_json(self) -> dict[str, Any]:
        return {"format": SWEEP_FORMAT, "version": 1, "model": self.model, "target": self.target,
                "data": self.data, "samples": self.samples, "rows": [r.to_json() for r in self.rows]}


def sweep(model: nn.Module | str | os.PathLike[str], target: str | Target[Any], bits: Sequence[int],
          data: str | os.PathLike[str] | None = "digits", *, samples: int | None = None,
          options: Mapping[str, Any] | None = None, **kwargs: Any) -> Sweep:
    """verify() the compile once per weight width (the target's `weight_bits` option)."""
    from snncompile.verification import verify

    base = resolve_target(target, options)
    if not any(f == "weight_bits" for f in getattr(base.options, "__dataclass_fields__", {})):
        raise error("SNC404", f"target {base.name!r} has no weight_bits option", hint="sweep a Loihi target")
    rows, report = [], None
    for b in _tracked(bits, bool(kwargs.get("progress", False))):
        report = verify(model, base.with_options(weight_bits=b), data, samples=samples, lava=False, **kwargs)
        pair = report.pair("lowered", report.final)
        exactness = report.compiled.result.graph.metadata.get("loihi", {}).get("exactness", {})
        layers = report.compiled.result.graph.metadata.get("loihi", {}).get("layers", [])
        rows.append(SweepRow(
            b, report.accuracy(report.reference), report.accuracy(report.final),
            None if pair is None else pair.overall,
            {la.origin or la.name: None if pair is None else pair.agreement(la.name) for la in report.layers},
            sum(1 for la in layers if exactness.get(la[0], {}).get("exact")), len(layers)))
    assert report is not None
    return Sweep(report.model, report.target, report.data.name, report.stats.samples, rows)


def _tracked(bits: Sequence[int], show: bool) -> Iterator[int]:
    """The widths, with a bar over them (and each verify's bars) while `show`."""
    with progress.shown(show):
        yield from progress.track(bits, "sweep", unit="widths", label=lambda b: f"sweep: {b}-bit weights")


def write_sweep(result: Sweep, directory: Path) -> list[Path]:
    """sweep.json and sweep.png (accuracy and agreement against bits; matplotlib, imported here) in `directory`."""
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sweep.json"
    path.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    bits = [r.bits for r in result.rows]
    fig = Figure(figsize=(9, 3.6))
    left, right = fig.subplots(1, 2)
    if all(r.accuracy is not None for r in result.rows):
        left.plot(bits, [100 * r.accuracy for r in result.rows], "o-", label="compiled")  # type: ignore[operator]
        ref = result.rows[0].reference_accuracy
        if ref is not None:
            left.axhline(100 * ref, color="gray", ls="--", label="reference")
        left.set_ylabel("accuracy %")
        left.legend()
    left.set_xlabel("weight bits")
    left.set_title("accuracy")
    names = list(result.rows[0].layers) if result.rows else []
    for name in names:
        values = [r.layers.get(name) for r in result.rows]
        right.plot(bits, [None if v is None else 100 * v for v in values], lw=0.8, alpha=0.6)
    right.plot(bits, [None if r.agreement is None else 100 * r.agreement for r in result.rows], "o-", color="k", lw=2,
               label="all layers")
    right.set_xlabel("weight bits")
    right.set_ylabel("spike agreement with float IR %")
    right.set_title("agreement (thin: per layer)")
    right.legend()
    for ax in (left, right):
        ax.set_xticks(bits)
    fig.suptitle(f"{Path(result.model).name} → {result.target}: {result.samples} samples of {result.data}")
    fig.tight_layout()
    png = directory / "sweep.png"
    fig.savefig(png, dpi=110)
    return [path, png]
