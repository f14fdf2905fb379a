"""The subcommands of `snncompile`: compile (the default), inspect, simulate."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from snncompile.cli.app import cli, converters_option, guarded, model_options
from snncompile.cli.console import say, settings, show_progress
from snncompile.cli.target_flags import target_option_flags
from snncompile.errors import error


def _echo_ir(title: str, text: str) -> None:
    click.echo(f"// ----- IR after {title} -----\n{text}", err=True)


def nir_source_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--nir-dt, --nir-convention and --nir-reset: how to read a .nir MODEL (frontend.nir_reader)."""
    fn = click.option("--nir-reset", type=click.Choice(["zero", "subtract", "none", "subtract-delayed",
                                                         "subtract-double", "zero-delayed"]),
                      help="the .nir MODEL's actual reset, which NIR cannot record (default: the convention's; "
                           "snntorch: subtract-delayed, its default Leaky; others: NIR's reset to v_reset)")(fn)
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
@click.option("--time-passes", is_flag=True, help="print the wall time of startup, load, trace, each pass, check "
              "and emit, summing (with an `other` row) to the total (also in report.json `timings`)")
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
                nir_reset: str | None, layout: str | None = None, **flags: Any) -> None:
    """Compile MODEL for a target and write the artifact to OUTPUT (only once every check has passed)."""
    import time

    from snncompile import progress

    imported = time.perf_counter()
    from snncompile.api import compile as compile_model
    from snncompile.ir import print_graph

    imported = time.perf_counter() - imported

    def after_pass(p: object, graph: object) -> None:
        if print_ir_after in ("all", getattr(p, "name", None)):
            _echo_ir(getattr(p, "spec", "?"), print_graph(graph))  # type: ignore[arg-type]

    def before_commit(result: Any) -> None:
        """Report the compile and run the check while the artifact is still staged (not yet in OUTPUT)."""
        if print_ir_after in ("all", "trace"):
            _echo_ir("trace", print_graph(result.traced))
        for d in result.diagnostics:
            click.echo(d.render(), err=True)
        say(f"compiled {model} for {target}: {len(result.graph)} nodes")
        from snncompile.resources import summary_line

        say(summary_line(result.report["resources"]))
        if result.check is not None:  # a failing check raised before anything was emitted
            for line in result.check.lines():
                say(line)

    tgt = _target(target, nir_dt, flags)
    if print_ir_after is not None:
        _check_pass_name(print_ir_after)
    with progress.shown(show_progress()):
        result = compile_model(model, tgt, output, input_shape=input_shape, timesteps=timesteps,
                               trust_pickle=trust_pickle, factory=factory,
                               after_pass=after_pass if print_ir_after else None, nir_dt=nir_dt,
                               nir_convention=nir_convention, nir_reset=nir_reset, before_commit=before_commit,
                               layout=layout, check=check,
                               check_samples=check_samples)
    for f in result.files:
        say(f"  wrote {f}")
    if time_passes:
        _echo_time_passes(result.timings, imported)


def _echo_time_passes(timings: Any, imported: float) -> None:
    """--time-passes: startup, the compiler's import, every phase of compile() and `other`, summing to the
    command's wall time so far (on stderr)."""
    from snncompile.timing import Timings

    started = settings().started
    whole = Timings(started)
    whole.add("startup (interpreter, command line)", max(timings.started - imported - started, 0.0))
    whole.add("import the compiler (torch, ...)", imported)
    whole.phases += timings.phases
    for line in whole.table():
        click.echo(line, err=True)


def _check_pass_name(name: str) -> None:
    """--print-ir-after names a registered pass, `trace` or `all` (SNC401, a usage error, listing them)."""
    from snncompile.passes import PASS_REGISTRY

    valid = sorted({*PASS_REGISTRY, "trace", "all"})
    if name not in valid:
        close = difflib.get_close_matches(name, valid, n=1)
        raise error("SNC401", f"--print-ir-after {name!r} names no pass"
                    + (f"; did you mean {close[0]!r}?" if close else ""),
                    hint=f"valid names: {', '.join(valid)} (see --list-passes)")


@cli.command("inspect")
@model_options
@nir_source_options
@guarded
def inspect_cmd(model: Path, input_shape: tuple[int, ...] | None, timesteps: int | None, trust_pickle: bool,
                factory: str | None, nir_dt: float | None, nir_convention: str, nir_reset: str | None,
                layout: str | None = None) -> None:
    """Print MODEL's traced IR and a per-layer summary table."""
    from rich.console import Console
    from rich.table import Table

    from snncompile.api import load
    from snncompile.frontend import trace
    from snncompile.frontend.nir.reader import load_nir
    from snncompile.frontend.pytorch.load import load_onnx
    from snncompile.frontend.sources import is_nir_path, is_onnx_path
    from snncompile.ir import print_graph
    from snncompile.ir.stats import node_stats

    if is_nir_path(model):
        graph = load_nir(model, dt=nir_dt, convention=nir_convention, timesteps=timesteps, reset=nir_reset).graph
    elif is_onnx_path(model):
        graph = load_onnx(model, timesteps)[1]
    else:
        graph = trace(load(model, trust_pickle=trust_pickle, factory=factory), input_shape, timesteps, layout)
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
              help=".npz with every neuron layer's spikes and the outputs, plus a .json sidecar (metadata)")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="where the simulator runs (cuda: bit-identical spikes; SNC960 without a GPU)")
@click.option("--debug", is_flag=True, help="show Python tracebacks")
@converters_option
@guarded
def simulate_cmd(artifact: Path, input_path: Path, output: Path, device: str) -> None:
    """Run a compiled ARTIFACT directory on an input array [T, B, ...]; write every neuron layer's spikes and the
    outputs. Every target writes the same keys: the traced model's IR node names (spikes [T, B, *shape] on the
    model's T steps, a Loihi layer's pipeline delay removed) and the graph outputs (a readout [B, K]). A `sim`
    artifact runs in the float simulator, a `loihi` one in the bit-exact Loihi simulator (both on --device), an
    `onnx` / `onnx-loihi` one (model.onnx) in onnxruntime. OUTPUT.json states the names' module paths and the
    delays removed (docs/SIMULATE.md)."""
    from snncompile import validate
    from snncompile.sim.device import simulator_device
    from snncompile.simulate_output import name_outputs, read_plan, write_outputs

    validate.output_file(output)
    x = validate.load_npy(input_path, input_path.name)
    delays: dict[str, int] = {}
    latency = 0
    if (artifact / "model.onnx").is_file() and not (artifact / "graph.json").is_file():
        plan = read_plan(artifact)
        pops = _simulate_onnx(artifact / "model.onnx", x)
        outs = [pops[o] for o in plan["outputs"]]
        how = f"ran {artifact / 'model.onnx'} in onnxruntime"
    elif (artifact / "manifest.json").is_file():
        from snncompile.targets.loihi.artifact import artifact_populations

        plan = read_plan(artifact)
        with simulator_device(device):
            pops, delays, outs, latency = artifact_populations(artifact, x)
        how = f"simulated {artifact} bit-exactly (pipeline latency {latency} removed)"
    elif not (artifact / "graph.json").is_file():
        raise error("SNC402", f"{artifact} has no graph.json", hint="compile with --target sim first")
    else:
        from snncompile.ir import serialize
        from snncompile.sim import simulate

        plan = read_plan(artifact)
        graph = serialize.load(artifact)
        with simulator_device(device):
            result = simulate(graph, x)
        pops, outs = result.values, [result.values[o] for o in graph.outputs]
        how = f"simulated {artifact} ({len(graph)} nodes)"
    values, meta = name_outputs(plan, pops, outs, int(x.shape[0]), delays, latency)
    side = write_outputs(output, values, meta)
    summary = {name: list(v.shape) for name, v in values.items()}
    say(f"{how} over {x.shape[0]} steps; wrote {output} {json.dumps(summary)} and {side.name}")


def _simulate_onnx(model: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    from snncompile.extras import require
    from snncompile.targets.onnx.driver import run_onnx

    require("onnxruntime", feature=f"simulating the ONNX artifact {model.parent}")

    try:
        return run_onnx(model, x)
    except Exception as exc:  # onnxruntime reports shape and type errors of the input as generic exceptions
        raise error("SNC402", f"onnxruntime could not run {model} on {list(x.shape)}: {str(exc).splitlines()[0]}",
                    hint="the input is [T, B, *input_shape] (see report.json)") from exc
