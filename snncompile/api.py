"""compile(): load → trace → target pipeline → target rules → emit → report, and its helpers."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from snncompile import ir, progress, validate
from snncompile.errors import CompileError, Diagnostic
from snncompile.frontend import trace
from snncompile.frontend.pytorch.load import load_model, load_onnx
from snncompile.frontend.sources import is_nir_path, is_onnx_path
from snncompile.ir.stats import node_stats
from snncompile.output import check_output_dir, final_paths, staged
from snncompile.passes import Pass, PassContext, PassRecord
from snncompile.record import compile_record
from snncompile.resources import resource_report
from snncompile.simulate_output import PLAN_KEY, output_plan
from snncompile.targets import Target, resolve_target
from snncompile.timing import Timings
from snncompile.version import __version__

log = logging.getLogger("snncompile.compile")


@dataclass
class CompileResult:
    """Everything a compile produced: the traced and final graphs, the pass records, warnings, files."""

    model: nn.Module | Any  # the nir.NIRGraph for a .nir source, the onnx.ModelProto for an .onnx source
    traced: ir.Graph
    graph: ir.Graph
    target: str
    records: list[PassRecord]
    diagnostics: list[Diagnostic]
    target_value: Target[Any] | None = None
    """The target with the options it compiled with."""
    files: list[Path] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    check: Any = None
    """The default check's outcome (verification.compile_check.CheckOutcome), None with check=False."""
    timings: Timings = field(default_factory=Timings)
    """Wall time of load, trace, each pass, rules, report, check and emit (report.json `timings`)."""


def load(path: str | os.PathLike[str], *, trust_pickle: bool = False, factory: str | None = None) -> nn.Module:
    """Load a checkpoint safely (see snncompile.frontend.pytorch.load.load_model)."""
    return load_model(path, trust_pickle=trust_pickle, factory=factory)


def get_target(target: str | Target[Any], options: Mapping[str, Any] | Any | None = None) -> Target[Any]:
    """The target value for a name or a value, with `options` applied (see targets.registry.resolve_target)."""
    return resolve_target(target, options)


def compile(model: nn.Module | str | os.PathLike[str], target: str | Target[Any] = "sim",
            output: str | os.PathLike[str] | None = None, *, options: Mapping[str, Any] | Any | None = None,
            input_shape: Sequence[int] | None = None,
            timesteps: int | None = None, trust_pickle: bool = False, factory: str | None = None,
            after_pass: Callable[[Pass, ir.Graph], None] | None = None, nir_dt: float | None = None,
            nir_convention: str = "auto", nir_reset: str | None = None, layout: str | None = None,
            check: bool = True, check_samples: int | None = None,
            before_commit: Callable[[CompileResult], None] | None = None) -> CompileResult:
    """Compile a model (or a checkpoint path, or a .nir or .onnx file) for `target` (a name or a target value such
    as LoihiTarget(LoihiOptions(...))) with `options` (a dict of the target's option fields, or its options
    dataclass) applied; write the artifact to `output` if given. nir_dt / nir_convention / nir_reset: the .nir
    source's time step, writer and actual reset (see frontend.nir.reader.NirReadOptions). layout: the input
    layout of the model's forward() (see frontend.trace; None: [T, B, ...] or recognized from the papers'
    modules).

    check (default True, as the CLI's --check): before anything is written, run the model, the traced IR and
    the compiled IR on random inputs and compare every neuron layer and the readout
    (verification.compile_check); a disagreement raises CompileError SNC403 (SNC815 for a .nir source) and
    writes nothing; check_samples: how many inputs (default verification.check.CHECK_SAMPLES). The outcome is in
    result.check and result.report["check"]. before_commit(result) runs
    after the artifact is emitted into a temporary sibling of `output` and before it replaces `output`: if it
    raises, or the run is interrupted, `output` is left exactly as it was."""
    tgt = get_target(target, options)
    out = Path(output) if output is not None else None
    if out is not None:
        check_output_dir(out)
    if isinstance(model, (str, os.PathLike)):
        validate.model_path(model)
    if input_shape is not None:
        input_shape = validate.input_shape(input_shape)
    if timesteps is not None:
        timesteps = validate.timesteps(timesteps)
    source = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
    source_path = model if isinstance(model, (str, os.PathLike)) else None
    ctx = PassContext()
    timings = Timings()
    if is_nir_path(model):  # no PyTorch model: the NIR graph itself is the reference
        from snncompile.frontend.nir.reader import load_nir  # the nir library only when a .nir file is given

        with timings.phase("load"), progress.task("load and import the NIR graph"):
            imported = load_nir(model, dt=nir_dt, convention=nir_convention, timesteps=timesteps,  # type: ignore[arg-type]
                                reset=nir_reset)
        model, traced = imported.nir_graph, imported.graph
        ctx.diagnostics.extend(imported.warnings)
    elif is_onnx_path(model):  # the ONNX step model is the reference (frontend/onnx_reference.py)
        with timings.phase("load"), progress.task("load and import the ONNX model"):
            model, traced = load_onnx(model, timesteps)  # type: ignore[arg-type]
    else:
        if not isinstance(model, nn.Module):
            with timings.phase("load"), progress.task("load"):
                model = load(model, trust_pickle=trust_pickle, factory=factory)
        with timings.phase("trace"), progress.task("trace"):
            traced = trace(model, input_shape, timesteps, layout)
    log.debug("traced %s: %d nodes", source, len(traced))
    graph, records = tgt.pipeline().run(traced, ctx, after_pass=after_pass)
    for r in records:
        timings.add(r.name, r.seconds, "pass")
    timings.add("IR verification and diffs after the passes", sum(r.overhead for r in records))
    with timings.phase("target rules"):
        found = [d for rule in tgt.rules() for d in rule(graph)]
    problems = [d for d in found if d.severity == "error"]
    if problems:
        raise CompileError(problems)
    ctx.diagnostics.extend(d for d in found if d.severity == "warning")  # rules may also warn (SNC640)
    result = CompileResult(model, traced, graph, tgt.name, records, list(ctx.diagnostics), tgt, timings=timings)
    with timings.phase("report"):
        result.report = build_report(source, result)
        result.report["compile"] = compile_record(source_path if source_path is not None else model, tgt,
                                                  input_shape, timesteps, trust_pickle, factory,
                                                  {"dt": nir_dt, "convention": nir_convention, "reset": nir_reset})
    if check:
        from snncompile.verification.check import CHECK_SAMPLES
        from snncompile.verification.compile_check import default_check

        n = CHECK_SAMPLES if check_samples is None else check_samples
        with timings.phase("check"), progress.task(f"check on {n} random inputs", total=n, unit="samples"):
            result.check = default_check(result, tgt.exact, *(() if check_samples is None else (check_samples,)))
        result.report["check"] = result.check.to_json()
        failure = result.check.failure()
        if failure is not None:
            raise CompileError([failure])
    if out is None:
        result.report["timings"] = timings.to_json()
        if before_commit is not None:
            before_commit(result)
        return result

    def emit(directory: Path) -> list[Path]:
        with timings.phase("emit"), progress.task(f"emit {tgt.name}"):
            files = tgt.emit(graph, directory, result.report)
        result.report["timings"] = timings.to_json()  # report.json is written next, with these figures
        return files

    with staged(out, emit, result.report) as (tmp, files):
        if before_commit is not None:
            before_commit(result)
    result.files = final_paths(files, tmp, out)
    log.debug("compiled %s for %s in %.2f s: wrote %s", source, tgt.name, timings.elapsed(), out)
    return result


def build_report(source: str, result: CompileResult) -> dict[str, Any]:
    (inp,) = result.graph.of_kind(ir.Input)
    return {
        "version": __version__,
        "model": source,
        "target": result.target,
        "input_shape": list(inp.shape),
        "input_layout": result.traced.metadata.get("input_layout", "tb"),
        "output_over_time": result.traced.metadata.get("output_over_time"),
        "timesteps": result.graph.timesteps,
        "passes": [r.to_json() for r in result.records],
        "diagnostics": [d.to_json() for d in result.diagnostics],
        "layers": [
            {"name": s.name, "kind": s.kind, "origin": s.origin, "shape": list(s.shape), "neurons": s.neurons,
             "synapses": s.synapses, "parameters": s.parameters}
            for s in node_stats(result.graph)
        ],
        "resources": resource_report(result.graph, result.target_value or result.target),
        PLAN_KEY: output_plan(result.traced, result.graph),
    }
