"""The subcommands of `snncompile`: compile (the default), inspect, simulate."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from snncompile.cli.app import cli, guarded, model_options
from snncompile.cli.target_flags import target_option_flags
from snncompile.errors import error


def _echo_ir(title: str, text: str) -> None:
    click.echo(f"// ----- IR after {title} -----\n{text}", err=True)


def nir_source_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--nir-dt, --nir-convention and --nir-reset: how to read a .nir MODEL (frontend.nir_reader)."""
    fn = click.option("--nir-reset", type=click.Choice(["zero", "subtract", "none", "subtract-delayed",
                                                         "subtract-double", "zero-delayed"]),
                      help="the .nir MODEL's actual reset, which NIR cannot record (snntorch's default Leaky: "
                           "subtract-delayed)")(fn)
    fn = click.option("--nir-convention", default="auto", show_default=True,
                      type=click.Choice(["auto", "nir", "snncompile", "snntorch", "spikingjelly", "norse"]),
                      help="program that wrote the .nir MODEL (its comparison and quirks)")(fn)
    return click.option("--nir-dt", type=float, help="time step in seconds of the .nir MODEL (default: its "
                        "metadata, else the convention's), and of the graph written by --target nir (1e-4)")(fn)


def _target(target: str, nir_dt: float | None, flags: dict[str, Any]) -> Any:
    """The target value with the user's flags (--nir-dt is also the dt of a graph written by --target nir)."""
    from snncompile.cli.target_flags import configured_target
    from snncompile.targets import target_class

    tgt = configured_target(target, **flags)
    if nir_dt is not None and "dt" in {f.name for f in dataclasses.fields(target_class(target).options_type)}:
        tgt = tgt.with_options(dt=nir_dt)
    return tgt


@cli.command("compile")
@model_options
@click.option("--target", "-t", "target", default="sim", show_default=True, help="see --list-targets")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="output directory (written atomically)")
@click.option("--print-ir-after", metavar="PASS|all", help="print the IR after the named pass (or all)")
@click.option("--time-passes", is_flag=True, help="print each pass's wall time")
@click.option("--check/--no-check", default=True, show_default=True,
              help="simulate model, traced IR and compiled IR on random inputs and compare every layer")
@click.option("--check-samples", type=click.IntRange(min=1), default=4, show_default=True,
              help="random inputs of the check (simulated a few at a time: memory does not grow with it)")
@nir_source_options
@target_option_flags
@guarded
def compile_cmd(model: Path, input_shape: tuple[int, ...] | None, timesteps: int | None, trust_pickle: bool,
                factory: str | None, target: str, output: Path | None, print_ir_after: str | None,
                time_passes: bool, check: bool, check_samples: int, nir_dt: float | None, nir_convention: str,
                nir_reset: str | None, **flags: Any) -> None:
    """Compile MODEL for a target and write the artifact to OUTPUT."""
    from snncompile.api import compile as compile_model
    from snncompile.ir import print_graph

    def after_pass(p: object, graph: object) -> None:
        if print_ir_after in ("all", getattr(p, "name", None)):
            _echo_ir(getattr(p, "spec", "?"), print_graph(graph))  # type: ignore[arg-type]

    tgt = _target(target, nir_dt, flags)
    result = compile_model(model, tgt, output, input_shape=input_shape, timesteps=timesteps,
                           trust_pickle=trust_pickle, factory=factory,
                           after_pass=after_pass if print_ir_after else None, nir_dt=nir_dt,
                           nir_convention=nir_convention, nir_reset=nir_reset)
    if print_ir_after in ("all", "trace"):
        _echo_ir("trace", print_graph(result.traced))
    for d in result.diagnostics:
        click.echo(d.render(), err=True)
    if time_passes:
        for r in result.records:
            click.echo(f"  {r.seconds * 1e3:9.2f} ms  {r.name}{'' if r.changed else '  (no change)'}", err=True)
    click.echo(f"compiled {model} for {target}: {len(result.graph)} nodes")
    from snncompile.resources import summary_line

    click.echo(summary_line(result.report["resources"]))
    if check:
        _run_check(result, require_exact=tgt.exact, samples=check_samples)
    for f in result.files:
        click.echo(f"  wrote {f}")


def _run_check(result: object, require_exact: bool = True, samples: int = 4) -> None:
    from snncompile.frontend.pytorch.load import is_onnx_path
    from snncompile.verification.check import check_compile, random_input

    x = random_input(result.traced, samples)  # type: ignore[attr-defined]
    if "nir" in result.traced.metadata:  # type: ignore[attr-defined]  # a .nir source: no PyTorch model
        from snncompile.frontend.nir.reference import check_nir_result

        report = check_nir_result(result, x)
    elif is_onnx_path(result.report.get("model")):  # type: ignore[attr-defined]  # an .onnx source
        from snncompile.frontend.onnx.reference import check_onnx_result

        report, note = check_onnx_result(result, x)
        click.echo(f"  {note}")
    else:
        graph = result.graph  # type: ignore[attr-defined]
        if "loihi" in graph.metadata:  # integer dynamics without the pipeline: aligned with the model's steps
            from snncompile.targets.loihi.numerics import compact

            graph = compact(graph)
        report = check_compile(result.model, result.traced, graph, x)  # type: ignore[attr-defined]
    click.echo(f"check on {x.shape[1]} random inputs, T = {x.shape[0]}:")
    for row in report.layers:
        after = "-" if row.traced_vs_compiled is None else str(row.traced_vs_compiled)
        click.echo(f"  {row.layer:32s} {row.decisions:9d} decisions  model≠IR {row.model_vs_traced:5d}  "
                   f"IR≠compiled {after:>5s}")
    click.echo(f"  readout max |model − compiled| = {report.readout_model_vs_compiled:.3g}")
    if not report.exact and not require_exact:
        click.echo("  quantized parameters: differences from the float model are expected")
        return
    if not report.exact and "nir" in result.traced.metadata:  # type: ignore[attr-defined]
        raise error("SNC815", "the compiled graph does not reproduce the NIR graph's spikes (see table above)",
                    hint="'model' is the NIR graph run by forward Euler at --nir-dt; check --nir-convention")
    if not report.exact:
        raise error("SNC403", "the compiled graph does not reproduce the model's spikes (see table above)",
                    hint="rerun with --print-ir-after all and report the first differing layer")
    click.echo("  all layers identical")


@cli.command("inspect")
@model_options
@nir_source_options
@guarded
def inspect_cmd(model: Path, input_shape: tuple[int, ...] | None, timesteps: int | None, trust_pickle: bool,
                factory: str | None, nir_dt: float | None, nir_convention: str, nir_reset: str | None) -> None:
    """Print MODEL's traced IR and a per-layer summary table."""
    from rich.console import Console
    from rich.table import Table

    from snncompile.api import load
    from snncompile.frontend import trace
    from snncompile.frontend.nir.reader import is_nir_path, load_nir
    from snncompile.frontend.pytorch.load import is_onnx_path, load_onnx
    from snncompile.ir import print_graph
    from snncompile.ir.stats import node_stats

    if is_nir_path(model):
        graph = load_nir(model, dt=nir_dt, convention=nir_convention, timesteps=timesteps, reset=nir_reset).graph
    elif is_onnx_path(model):
        graph = load_onnx(model, timesteps)[1]
    else:
        graph = trace(load(model, trust_pickle=trust_pickle, factory=factory), input_shape, timesteps)
    click.echo(print_graph(graph))
    table = Table(title=f"{model.name}: per-layer summary")
    for col in ("node", "kind", "origin", "shape", "neurons", "synapses", "parameters"):
        table.add_column(col, justify="right" if col in ("neurons", "synapses", "parameters") else "left")
    rows = node_stats(graph)
    for s in rows:
        table.add_row(s.name, s.kind, s.origin, "x".join(map(str, s.shape)), str(s.neurons), str(s.synapses),
                      str(s.parameters))
    table.add_row("total", "", "", "", str(sum(s.neurons for s in rows)), str(sum(s.synapses for s in rows)),
                  str(sum(s.parameters for s in rows)))
    Console(width=140).print(table)


@cli.command("simulate")
@click.argument("artifact", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=".npy array [T, B, *input_shape]")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=".npz with every node's output")
@click.option("--debug", is_flag=True, help="show Python tracebacks")
@guarded
def simulate_cmd(artifact: Path, input_path: Path, output: Path) -> None:
    """Run a compiled `sim` ARTIFACT directory on an input array; write every node's output.
    A `loihi` artifact runs in the bit-exact Loihi simulator; every layer's spikes ([T + latency, B, ...]) and
    the readout are written. An `onnx` / `onnx-loihi` artifact (model.onnx) runs in onnxruntime: every
    neuron's spikes [T, B, ...] and the readout (averaged over T)."""
    from snncompile.ir import serialize
    from snncompile.sim import simulate

    if (artifact / "model.onnx").is_file() and not (artifact / "graph.json").is_file():
        _simulate_onnx(artifact / "model.onnx", np.load(input_path), output)
        return
    if (artifact / "manifest.json").is_file():
        from snncompile.targets.loihi.artifact import simulate_artifact

        graph, result = simulate_artifact(artifact, np.load(input_path))
    elif not (artifact / "graph.json").is_file():
        raise error("SNC402", f"{artifact} has no graph.json", hint="compile with --target sim first")
    else:
        graph = serialize.load(artifact)
        result = simulate(graph, np.load(input_path))
    tmp = output.with_name(f".{output.name}.tmp.npz")
    np.savez_compressed(tmp, **result.values)
    tmp.replace(output)
    summary = {name: list(v.shape) for name, v in result.values.items() if name in graph.outputs}
    click.echo(f"simulated {len(graph)} nodes; outputs {json.dumps(summary)}; wrote {output}")


def _simulate_onnx(model: Path, x: np.ndarray, output: Path) -> None:
    from snncompile.targets.onnx.driver import run_onnx, save_outputs

    try:
        values = run_onnx(model, x)
    except Exception as exc:  # onnxruntime reports shape and type errors of the input as generic exceptions
        raise error("SNC402", f"onnxruntime could not run {model} on {list(x.shape)}: {str(exc).splitlines()[0]}",
                    hint="the input is [T, B, *input_shape] (see report.json)") from exc
    save_outputs(values, output)
    summary = {name: list(v.shape) for name, v in values.items()}
    click.echo(f"ran {model.name} in onnxruntime over {x.shape[0]} steps; outputs {json.dumps(summary)}; "
               f"wrote {output}")
