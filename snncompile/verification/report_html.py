"""The verification report as a static HTML page with matplotlib PNGs: rasters, rates, agreement, quantization."""

from __future__ import annotations

import html
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from snncompile.errors import error
from snncompile.fsmode import as_created
from snncompile.verification.report_json import layer_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from snncompile.verification.core import VerifyReport

GENERATOR = "snncompile verify"
RASTER_NEURONS = 48
"""Neurons per layer drawn in the raster (evenly spaced), so deep layers stay readable."""


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _labels(report: VerifyReport) -> list[str]:
    return [la.label if len(la.label) <= 24 else "…" + la.label[-23:] for la in report.layers]


def plot_rates(report: VerifyReport, path: Path) -> None:
    fig = _figure(max(6.0, 0.35 * len(report.layers)), 3.6)
    ax = fig.subplots()
    counts = stage_samples(report)
    for stage, acts in report.stats.activity.items():
        ys = [acts[la.name].rate if la.name in acts else np.nan for la in report.layers]
        ax.plot(range(len(ys)), ys, marker="o", ms=3, label=f"{stage} ({counts.get(stage, '?')} samples)")
    ax.set_xticks(range(len(report.layers)), _labels(report), rotation=90, fontsize=7)
    ax.set_ylabel("spikes per neuron per step")
    same = len(set(counts.values())) <= 1
    ax.set_title("Firing rate per layer and stage" + ("" if same else " (stages ran on different samples: see legend)"))
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def stage_samples(report: VerifyReport) -> dict[str, int]:
    """Samples each stage ran on (a Lava stage runs on a subset)."""
    return {**{s.name: report.stats.samples for s in report.stats.stages},
            **{s.name: n for s, n in report.stats.extra}}


def plot_agreement(report: VerifyReport, path: Path) -> None:
    fig = _figure(max(6.0, 0.35 * len(report.layers)), 3.6)
    ax = fig.subplots()
    for pair in report.stats.pairs:
        ys = [1 - pair.agreement(la.name) if pair.agreement(la.name) is not None else np.nan  # type: ignore[operator]
              for la in report.layers]
        ax.plot(range(len(ys)), ys, marker="o", ms=3, label=pair.label)
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_ylim(bottom=0)
    ax.set_xticks(range(len(report.layers)), _labels(report), rotation=90, fontsize=7)
    ax.set_ylabel("fraction of spike decisions differing")
    ax.set_title("Disagreement per layer (0 = identical)")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def plot_quantization(report: VerifyReport, path: Path) -> None:
    rows = [layer_json(report, la).get("quantization", {}) for la in report.layers]
    fig = _figure(max(6.0, 0.35 * len(report.layers)), 4.8)
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(rows))
    for ax, keys, title in ((top, ("weight_rel_error", "bias_rel_error"), "relative error (threshold units)"),
                            (bottom, ("rate_error",), "mean |Δ rate| per neuron vs lowered")):
        for k, key in enumerate(keys):
            ys = [r.get(key) if r.get(key) is not None else np.nan for r in rows]
            ax.bar(x + 0.4 * k, ys, width=0.4, label=key)
        ax.set_ylabel(title, fontsize=8)
        ax.legend(fontsize=7)
    bottom.set_xticks(x, _labels(report), rotation=90, fontsize=7)
    top.set_title("Quantization error per layer")
    fig.savefig(path, dpi=110)


def _raster(report: VerifyReport, stage: str) -> tuple[np.ndarray, list[int]]:
    """Sample 0 of `stage`: [neurons drawn, T] (spike counts) and each layer's first row."""
    blocks, starts, row = [], [], 0
    for la in report.layers:
        spikes = report.stats.rasters.get(stage, {}).get(la.name)
        starts.append(row)
        if spikes is None:
            spikes = np.full((spikes_steps(report), la.neurons), np.nan)
        flat = spikes.reshape(spikes.shape[0], -1)
        pick = np.unique(np.linspace(0, flat.shape[1] - 1, min(RASTER_NEURONS, flat.shape[1])).astype(int))
        blocks.append(flat[:, pick].T)
        row += len(pick)
    return np.concatenate(blocks), starts


def spikes_steps(report: VerifyReport) -> int:
    return report.data.timesteps


def plot_rasters(report: VerifyReport, path: Path) -> None:
    stages = list(dict.fromkeys([report.reference, "lowered", report.final]))
    stages = [s for s in stages if s in report.stats.rasters]
    fig = _figure(2.2 * len(stages) + 1.5, max(4.0, 0.012 * RASTER_NEURONS * len(report.layers) + 2))
    axes = np.atleast_1d(fig.subplots(1, len(stages), sharey=True))
    ref, starts = _raster(report, stages[0])
    for ax, stage in zip(axes, stages, strict=True):
        img, _ = _raster(report, stage)
        ax.imshow(img, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0)
        differ = np.argwhere((img != ref) & ~np.isnan(img) & ~np.isnan(ref))
        if len(differ):
            ax.scatter(differ[:, 1], differ[:, 0], s=6, c="red", marker="s", label="differs from " + stages[0])
            ax.legend(fontsize=6, loc="lower right")
        ax.set_title(stage, fontsize=9)
        ax.set_xlabel("timestep")
        ax.set_xticks(range(img.shape[1]))
    axes[0].set_yticks(starts, _labels(report), fontsize=6)
    fig.suptitle(f"Spike rasters, sample 0 (≤ {RASTER_NEURONS} neurons per layer)", fontsize=9)
    fig.savefig(path, dpi=110)


def _table(header: list[str], rows: list[list[Any]], marked: int | None = None) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return html.escape("–" if v is None else str(v))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(("<tr class=\"worst\">" if k == marked else "<tr>") + "".join(f"<td>{cell(v)}</td>" for v in r)
                   + "</tr>" for k, r in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def _sections(report: VerifyReport, data: dict[str, Any]) -> str:
    """Which artifact (options, hashes), the compile's warnings, and the resources."""
    from snncompile.resources import summary_line

    art = data.get("artifact") or {}
    where = art.get("directory") or "the artifact `compile` writes with these options (not on disk)"
    options = _table(["option", "value"], [[k, json.dumps(v)] for k, v in (art.get("options") or {}).items()])
    files = _table(["file", "sha256"], [[k, v] for k, v in (art.get("files") or {}).items()])
    same = art.get("identical_to_recompile")
    state = "" if same is None else (" — byte-identical to its recompilation" if same else
                                     " — <b>differs from its recompilation</b>")
    warnings = [d for d in data["diagnostics"]] + [p for p in data["problems"] if p["severity"] != "error"]
    items = "".join(f"<li><code>{html.escape(w['code'])}</code> {html.escape(w['message'])}</li>"
                    for w in warnings) or "<li>none</li>"
    res = data.get("resources")
    resources = html.escape(summary_line(res)) if res else "not available"
    return (f"<h2>Artifact checked</h2><p>{html.escape(str(where))}{state}</p><h3>Compile options</h3>{options}"
            f"{files}<h2>Warnings</h2><ul>{items}</ul><h2>Resources</h2><p>{resources}</p>")


def _page(report: VerifyReport, data: dict[str, Any], images: list[str]) -> str:
    acc = data["accuracy"]
    stages = [s["name"] for s in data["stages"]]
    summary = _table(["stage", "samples", "accuracy", "description"],
                     [[s["name"], s["samples"], acc["stages"].get(s["name"]), s["description"]]
                      for s in data["stages"]])
    worst = data.get("worst_layer")
    names = [la["name"] for la in data["layers"]]
    marked = names.index(worst["layer"]) if worst is not None and worst["layer"] in names else None
    worst_text = "every compared layer agrees exactly" if worst is None else (
        f"worst layer: <b>{html.escape(worst['origin'] or worst['layer'])}</b> ({html.escape(worst['pair'])} "
        f"agreement {100 * worst['agreement']:.3f}%), highlighted below")
    compared = ", ".join(f"{html.escape(k)} {v}" for k, v in data["layers_compared"].items())
    counts = {s["name"]: s["samples"] for s in data["stages"]}
    pairs = _table(["pair", "samples", "exact expected", "agreement", "mismatches", "first divergence"],
                   [[f"{p['a']} → {p['b']}", min(counts.get(p["a"], 0), counts.get(p["b"], 0)), p["expect_exact"],
                     p["agreement"], p["mismatches"], _where(p["first_divergence"])] for p in data["pairs"]])
    layers = _table(["layer", "shape", *[f"rate {s}" for s in stages], f"silent {report.final}",
                     f"saturated {report.final}", f"agreement {report.reference}→{report.final}", "weight rel. error"],
                    [[la["origin"] or la["name"], "x".join(map(str, la["shape"])),
                      *[la["rate"].get(s) for s in stages], la["silent"].get(report.final),
                      la["saturated"].get(report.final),
                      la["agreement"].get(f"{report.reference}→{report.final}"),
                      la.get("quantization", {}).get("weight_rel_error")] for la in data["layers"]], marked)
    problems = "".join(f"<li>{p['severity']} <code>{html.escape(p['code'])}</code> {html.escape(p['message'])}</li>"
                       for p in data["problems"]) or "<li>none</li>"
    figures = "".join(f'<p><img src="{name}" alt="{name}"></p>' for name in images)
    status = "PASS" if data["ok"] else "FAIL"
    return f"""<!doctype html><html><head><meta charset="utf-8"><meta name="generator" content="{GENERATOR}">
<title>snncompile verify: {html.escape(report.model)}</title><style>body{{font-family:sans-serif;margin:2em}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:2px 6px}}
tr.worst td{{background:#fdd;font-weight:bold}}</style></head><body>
<h1>{status}: {html.escape(report.model)} → {html.escape(report.target)}</h1>
<p>data {html.escape(data['data']['name'])}, {data['data']['samples']} samples, T = {data['data']['timesteps']};
reference accuracy {_pct(acc['reference'])}, compiled {_pct(acc['compiled'])}</p>
<p>{html.escape(acc.get('note') or '')}</p>
<h2>Problems</h2><ul>{problems}</ul><h2>Stages</h2>{summary}<h2>Stage agreement</h2>{pairs}
<h2>Layers</h2><p>{worst_text}; layers compared (of {data['layers_total']}): {compared}</p>{layers}
{_sections(report, data)}<h2>Plots</h2>{figures}</body></html>
"""


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _where(first: dict[str, Any] | None) -> str:
    if first is None:
        return "none"
    where = first["origin"] or first["layer"]
    return f"layer {where} neuron {first['neuron']} t={first['timestep']} sample {first['sample']}"


def write_html(report: VerifyReport, directory: Path) -> list[Path]:
    """index.html and its PNGs, written into a temporary sibling directory and renamed into place."""
    if directory.exists() and not (directory / "index.html").is_file() and any(directory.iterdir()):
        raise error("SNC402", f"{directory} exists and is not a verify report directory",
                    hint="choose a new path for --html; verify only replaces report directories it wrote")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    try:
        as_created(tmp)
        plots = [("rasters.png", plot_rasters), ("rates.png", plot_rates), ("agreement.png", plot_agreement)]
        if report.quantization:
            plots.append(("quantization.png", plot_quantization))
        for name, plot in plots:
            plot(report, tmp / name)
        (tmp / "index.html").write_text(_page(report, report.to_json(), [n for n, _ in plots]))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [directory / "index.html", *[directory / n for n, _ in plots]]
