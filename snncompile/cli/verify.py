"""The `snncompile verify` subcommand: differential verification of a compile, printed and written as reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from snncompile.cli.app import cli, guarded, model_or_artifact_options
from snncompile.cli.console import say, settings, show_progress
from snncompile.cli.target_flags import configured_target, target_option_flags
from snncompile.errors import CompileError
from snncompile.progress import shown


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _frac(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.3f}%"


def print_report(report: Any) -> None:
    """Per-layer table, stage agreement and accuracy, on stdout."""
    from rich.console import Console
    from rich.table import Table

    data = report.to_json()
    ref, fin = report.reference, report.final
    float_pair = f"{ref}→lowered" if report.pair(ref, "lowered") else None
    table = Table(title=f"{report.model} → {report.target}: {data['data']['samples']} samples of "
                        f"{data['data']['name']}, T = {data['data']['timesteps']}")
    for col in ("layer", "shape", f"rate {ref}", f"rate {fin}", "silent", "saturated", f"{ref}=lowered",
                f"{ref}={fin}", "w err"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for la in data["layers"]:
        quant = la.get("quantization", {}).get("weight_rel_error")
        table.add_row(la["origin"] or la["name"], "x".join(map(str, la["shape"])), _num(la["rate"].get(ref)),
                      _num(la["rate"].get(fin)), str(la["silent"].get(fin, "–")), str(la["saturated"].get(fin, "–")),
                      _frac(la["agreement"].get(float_pair)) if float_pair else "–",
                      _frac(la["agreement"].get(f"{ref}→{fin}")), "–" if quant is None else f"{quant:.2e}")
    Console(width=100).print(table)  # fits a 100-column terminal
    _print_data(data["data"]["source"])
    samples = {s["name"]: s["samples"] for s in data["stages"]}
    for pair in data["pairs"]:
        first = pair["first_divergence"]
        where = "identical" if first is None else (
            f"first divergence at layer {first['origin'] or first['layer']} neuron {first['neuron']} "
            f"t={first['timestep']} sample {first['sample']}")
        n = min(samples.get(pair["a"], 0), samples.get(pair["b"], 0))
        click.echo(f"  {pair['a']:>9s} → {pair['b']:<9s} {_frac(pair['agreement']):>9s} on {n} samples  {where}")
    worst = data.get("worst_layer")
    if worst is not None:
        click.echo(f"worst layer: {worst['origin'] or worst['layer']} ({worst['pair']} agreement "
                   f"{_frac(worst['agreement'])})")
    if report.resources:
        from snncompile.resources import summary_line

        click.echo(summary_line(report.resources))
    _print_artifact(data["artifact"])
    counts = ", ".join(f"{stage} {n}" for stage, n in data["layers_compared"].items())
    click.echo(f"compared layers (of {data['layers_total']}): {counts}")
    acc = data["accuracy"]
    if acc["reference"] is not None:
        click.echo(f"accuracy: reference ({ref}) {_pct(acc['reference'])}, compiled ({fin}) {_pct(acc['compiled'])}")
    click.echo(f"  {acc['note']}")
    run = data.get("execution") or {}
    if run.get("shards"):
        click.echo(f"ran {run['shards']} shards on {run['workers']} {run['executor']} ({', '.join(run['hosts'])})")


def _print_data(source: dict[str, Any]) -> None:
    """Which data was read, from where, and how it was turned into frames."""
    where = f" from {source['path']}" if source.get("path") else ""
    storage = f", {source['storage']}" if source.get("storage") else ""
    click.echo(f"data: {source['kind']} {source['name']}{where}{storage}")
    if source.get("transform"):
        click.echo(f"  transform: {source['transform']}")
    cal = source.get("calibration_samples")
    click.echo(f"  calibration data offered to the target: {'none' if cal is None else f'{cal} samples'}")


def _print_artifact(artifact: dict[str, Any]) -> None:
    """Which artifact these figures are for: directory (or the one compile writes), options, file hashes."""
    where = artifact.get("directory")
    if where is None:
        click.echo(f"artifact checked: the one `compile -t {artifact['target']}` writes with these options "
                   "(not a directory on disk)")
    else:
        same = "byte-identical to its recompilation" if artifact.get("identical_to_recompile") else \
            "DIFFERS from its recompilation"
        click.echo(f"artifact checked: {where} ({same})")
    options = ", ".join(f"{k}={_short(v)}" for k, v in (artifact.get("options") or {}).items())
    click.echo(f"  options: {options or 'none'}")
    for name, digest in artifact.get("files", {}).items():
        click.echo(f"  sha256 {digest[:16]}  {name}")


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("spec") or f"array {value.get('shape')} sha256 {str(value.get('array_sha256'))[:12]}"
    return str(value)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


@cli.command("verify")
@model_or_artifact_options
@click.option("--target", "-t", "target", default="loihi", show_default=True, help="see --list-targets")
@click.option("--data", "data", default="digits", show_default=True, metavar="SPEC",
              help="inputs, read batch by batch: digits, random, FILE.npz or DIR (x, optional y and calibration: "
                   "images [N, ...] or frames [T, N, ...]; memory-mapped), module:function or file.py:function "
                   "(a Dataset or DataLoader), tonic:NAME (events binned into T frames; see docs/DATA.md)")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="directory that tonic datasets were extracted to (never downloaded)")
@click.option("--samples", "-n", type=click.IntRange(min=1), help="use only the first N samples")
@click.option("--batch", type=click.IntRange(min=1), help="samples per simulated chunk (default: by memory)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="write the JSON report")
@click.option("--html", "html_dir", type=click.Path(file_okay=False, path_type=Path),
              help="write index.html and PNG plots (rasters, rates, agreement, quantization) into DIR")
@click.option("--lava/--no-lava", default=None, help="also run the artifact in Lava (default: when a Lava environment "
              "exists, see `snncompile lava-setup`; --lava without one is an error, SNC421)")
@click.option("--lava-samples", type=click.IntRange(min=1), default=4, show_default=True,
              help="samples run in Lava (slow: about 500 steps/s)")
@click.option("--scheduled", is_flag=True, help="also simulate the pipelined float graph (locates a divergence "
              "between scheduling and quantization; T + latency steps)")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="accepted accuracy drop, in percentage points (1 = one point; the same unit as "
                   "verify(tolerance=) in Python)")
@click.option("--calibrate-on-scored", is_flag=True, help="let the target calibrate on the scored samples (by "
              "default it calibrates on other data: the digits training split, other random images, the .npz "
              "`calibration` array, or not at all)")
@click.option("--progress/--no-progress", default=None, help="progress bars with rate and ETA on stderr (default: "
              "when stderr is a terminal; never with --quiet)")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="run the samples in N local worker processes (the compile happens once; same report)")
@click.option("--ray", "ray", metavar="ADDRESS|auto|local", help="run the samples as Ray tasks on the cluster at "
              "ADDRESS (auto: RAY_ADDRESS or the local `ray start` cluster; local: start one for this run, with "
              "--workers CPUs); needs pip install 'snncompile[ray]'")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="where the simulator stages run (cuda: SNC960 without a GPU)")
@target_option_flags
@guarded
def verify_cmd(model: Path, input_shape: tuple[int, ...] | None, timesteps: int | None, trust_pickle: bool,
               factory: str | None, target: str, data: str, data_root: Path | None, samples: int | None,
               batch: int | None,
               json_path: Path | None, html_dir: Path | None, lava: bool | None, lava_samples: int, scheduled: bool,
               tolerance: float, calibrate_on_scored: bool, progress: bool | None, workers: int = 1,
               ray: str | None = None, device: str = "cpu", layout: str | None = None, **flags: Any) -> None:
    """Run MODEL as PyTorch, traced IR, lowered IR and the target's bit-exact simulation on the same data;
    report per-layer agreement, firing rates, the first divergence and accuracy. Exits 1 when a stage that
    must be exact is not, or the compiled accuracy drops by more than --tolerance points.

    MODEL may be an artifact directory written by `snncompile compile -o OUT_DIR`: the artifact is then
    verified as written (recompiled from its report.json record, with the recorded model hash, target
    options and calibration, and required to be byte-identical to the files on disk); --target and the
    target flags are taken from the record."""
    from snncompile.verification import verify
    from snncompile.verification.artifact import is_artifact_dir

    if model.is_dir() and not is_artifact_dir(model):
        raise click.BadParameter(f"{model} is a directory without report.json (not a compiled artifact)")
    show = show_progress(progress)
    common = dict(samples=samples, batch=batch, data_root=data_root, tolerance=tolerance, scheduled=scheduled,
                  lava=lava, lava_samples=lava_samples, json_path=json_path, html_dir=html_dir, progress=show,
                  workers=workers, ray=ray, device=device)
    with shown(show):  # every stage's bar, the compile and Lava included
        if model.is_dir():
            report = verify(model, data=data, **common)
        else:
            report = verify(model, configured_target(target, **flags), data, input_shape=input_shape,
                            timesteps=timesteps, trust_pickle=trust_pickle, factory=factory,
                            calibrate_on_scored=calibrate_on_scored, layout=layout, **common)
    if not settings().quiet:
        print_report(report)
    for d in report.compiled.result.diagnostics:
        click.echo(d.render(), err=True)
    for f in report.files:
        say(f"  wrote {f}")
    errors = [d for d in report.problems if d.severity == "error"]
    for d in report.problems:
        if d.severity != "error":
            click.echo(d.render(), err=True)
    if errors:
        raise CompileError(errors)
    skipped = sorted({d.message.split(":")[0] for d in report.problems if d.code == "SNC421"})
    say("verify: all checks passed" + (f" ({'; '.join(skipped)}: see the warning above)" if skipped else ""))
