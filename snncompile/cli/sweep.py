"""The `snncompile sweep` subcommand: accuracy and per-layer spike agreement against the weight width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from snncompile.cli.app import cli, guarded, model_options
from snncompile.cli.console import say, settings, show_progress
from snncompile.cli.target_flags import configured_target, target_option_flags


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def print_sweep(result: Any) -> None:
    """One row per width: accuracy, overall agreement, the worst layer's agreement, exact layers."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.model} → {result.target}: {result.samples} samples of {result.data}")
    for col in ("weight bits", "reference acc %", "compiled acc %", "Δ points", "agreement %", "worst layer",
                "worst layer %", "exact layers"):
        table.add_column(col, justify="right")
    for r in result.rows:
        known = {k: v for k, v in r.layers.items() if v is not None}
        worst = min(known, key=known.__getitem__) if known else None
        delta = None if r.accuracy is None or r.reference_accuracy is None else r.accuracy - r.reference_accuracy
        table.add_row(str(r.bits), _pct(r.reference_accuracy), _pct(r.accuracy),
                      "–" if delta is None else f"{100 * delta:+.2f}", _pct(r.agreement), worst or "–",
                      _pct(known.get(worst)) if worst else "–", f"{r.exact_layers}/{r.netx_layers}")
    Console(width=160).print(table)


@cli.command("sweep")
@model_options
@click.option("--target", "-t", "target", default="loihi", show_default=True,
              help="a target with integer weights (loihi, onnx-loihi)")
@click.option("--weight-bits", "bits", default="4..8", show_default=True, metavar="LOW..HIGH|B,B,...",
              help="weight widths to compile")
@click.option("--data", "data", default="digits", show_default=True, metavar="SPEC",
              help="inputs, as for verify --data")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="directory that tonic datasets were extracted to, as for verify")
@click.option("--samples", "-n", type=click.IntRange(min=1), help="use only the first N samples")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("sweep"),
              show_default=True, help="directory for sweep.json and sweep.png")
@click.option("--progress/--no-progress", default=None, help="progress bars with rate and ETA on stderr (default: "
              "when stderr is a terminal; never with --quiet)")
@target_option_flags
@guarded
def sweep_cmd(model: Path, input_shape: tuple[int, ...] | None, timesteps: int | None, trust_pickle: bool,
              factory: str | None, target: str, bits: str, data: str, data_root: Path | None, samples: int | None,
              out: Path,
              progress: bool | None, **flags: Any) -> None:
    """Compile MODEL once per weight width and verify each: accuracy and per-layer spike agreement with the
    folded float graph against the number of weight bits, as a table, OUT/sweep.json and OUT/sweep.png."""
    from snncompile.verification.sweep import parse_bits, sweep, write_sweep

    try:
        widths = parse_bits(bits)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--weight-bits") from exc
    result = sweep(model, configured_target(target, **flags), widths, data, samples=samples,
                   progress=show_progress(progress), input_shape=input_shape,
                   timesteps=timesteps, trust_pickle=trust_pickle, factory=factory, data_root=data_root)
    if not settings().quiet:
        print_sweep(result)
    for path in write_sweep(result, out):
        say(f"  wrote {path}")
