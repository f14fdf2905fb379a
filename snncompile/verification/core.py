"""verify(): compile a model, run every stage on the same data, check agreement and accuracy, write reports."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from snncompile import ir
from snncompile.api import load
from snncompile.errors import CompileError, Diagnostic, error
from snncompile.frontend import trace
from snncompile.targets import Target
from snncompile.verification.check import readout_tolerance
from snncompile.verification.data import VerifyData, load_data
from snncompile.verification.plugins import Compiled, build_stages, compile_for_verify
from snncompile.verification.report_html import write_html
from snncompile.verification.report_json import report_to_json, write_json
from snncompile.verification.runner import RunStats, compare_extra, graph_of, run_stages
from snncompile.verification.shard import Executor, run_sharded
from snncompile.verification.stages import Layer, neuron_layers

DEFAULT_TOLERANCE = 1.0
"""Largest accepted accuracy drop from the reference (PyTorch) to the compiled stage, in percentage points (the
unit of `verify(tolerance=)` and `--tolerance`; VerifyReport.tolerance holds it as a fraction)."""
LAVA_SAMPLES = 4
LAVA_AUTO_MAX_LAYERS = 16
"""Deeper networks run in Lava only on request: psp_preact_resnet (49 layers) started 323 processes."""


@dataclass
class VerifyReport:
    """The outcome of verify(): statistics per stage, layer and stage pair, the checks, and where reports went."""

    model: str
    target: str
    data: VerifyData
    compiled: Compiled
    stats: RunStats
    tolerance: float
    """The accepted accuracy drop as a fraction (0.01: one percentage point)."""
    quantization: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    accuracy_note: str = ""
    """How accuracy was computed (readout argmax, or argmax of output spike counts), or why it was not."""
    artifact: dict[str, Any] = field(default_factory=dict)
    """Which artifact was checked (see artifact_json)."""
    execution: dict[str, Any] = field(default_factory=dict)
    """How the samples were run: one process, or shards over worker processes or Ray tasks (shard.run_sharded)."""

    @property
    def layers(self) -> list[Layer]:
        return self.stats.layers

    @property
    def reference(self) -> str:
        return self.stats.stages[0].name

    @property
    def final(self) -> str:
        return self.stats.stages[-1].name

    def accuracy(self, stage: str) -> float | None:
        if not self.stats.labelled or stage not in self.stats.correct:
            return None
        return self.stats.correct[stage] / self.stats.samples

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.problems)

    def worst_layer(self) -> tuple[Layer, str, float] | None:
        """The layer with the lowest spike agreement over all stage pairs: (layer, pair label, agreement);
        None when every compared layer agrees exactly."""
        worst = None
        for pair in self.stats.pairs:
            for la in self.layers:
                value = pair.agreement(la.name)
                if value is not None and value < 1.0 and (worst is None or value < worst[2]):
                    worst = (la, pair.label, value)
        return worst

    def pair(self, a: str, b: str) -> Any:
        return next((p for p in self.stats.pairs if p.a == a and p.b == b), None)

    def to_json(self) -> dict[str, Any]:
        return report_to_json(self)


def _checks(report: VerifyReport) -> list[Diagnostic]:
    """Errors: a stage expected to be exact that is not (naming the first diverging layer), and a compiled
    accuracy more than `tolerance` below the reference."""
    found = []
    for pair in report.stats.pairs:
        first = pair.first_divergence(report.layers)
        if pair.expect_exact and first is not None:
            found.append(Diagnostic("SNC900", f"{pair.b} disagrees with {pair.a} in "
                                    f"{sum(1 for v in pair.mismatches.values() if v)} layer(s); first diverging: "
                                    f"{first.describe()}", node=first.layer, origin=first.origin or None,
                                    hint="this stage should reproduce the previous one exactly; "
                                         "--print-ir-after all shows what the passes did to this layer"))
    stats = report.stats
    for stage, missing in stats.not_recorded.items():
        names = [la.label for la in report.layers if la.name in missing]
        reason = next(iter(missing.values()))
        found.append(Diagnostic("SNC904", f"{stage}: compared {len(report.layers) - len(names)} of "
                                f"{len(report.layers)} neuron layers; not compared: {', '.join(names[:4])}"
                                f"{', ...' if len(names) > 4 else ''} ({reason})",
                                hint="each neuron module must return its spikes as [T, B, ...] or [T·B, ...] "
                                     "once per IR node (or once per timestep inside a time-loop container)"))
    tolerance = readout_tolerance(np.array([stats.logit_scale]), stats.reference_dtype)
    for pair in stats.pairs:
        error = stats.logit_error.get(pair.b)
        if pair.a == report.reference and pair.expect_exact and error is not None and not error <= tolerance:
            found.append(Diagnostic("SNC905", f"the readout of {pair.b} differs from {pair.a} by {error:.3g} "
                                    f"(tolerance {tolerance:.2g} for a stage that must be exact)",
                                    hint="spikes may agree while the readout weights or bias were changed; "
                                         "--print-ir-after all shows what the passes did to the readout"))
    ref, fin = report.accuracy(report.reference), report.accuracy(report.final)
    if ref is not None and fin is not None and ref - fin > report.tolerance + 1e-12:
        found.append(Diagnostic("SNC901", f"compiled accuracy {100 * fin:.2f}% is {100 * (ref - fin):.2f} points "
                                f"below the reference {100 * ref:.2f}% (tolerance {100 * report.tolerance:.2f})",
                                hint="see the quantization errors per layer in the report"))
    return found


def _model_and_shape(model: nn.Module | str | os.PathLike[str], input_shape: Sequence[int] | None,
                     timesteps: int | None, trust_pickle: bool, factory: str | None, layout: str | None = None
                     ) -> tuple[nn.Module, tuple[int, ...], int, int | None]:
    module = model if isinstance(model, nn.Module) else load(model, trust_pickle=trust_pickle, factory=factory)
    graph = trace(module, input_shape, timesteps, layout)
    (inp,) = graph.of_kind(ir.Input)
    steps = graph.timesteps or timesteps
    if not steps:
        raise error("SNC105", "the number of timesteps T is unknown", hint="pass --timesteps or set model.timesteps")
    out_shape = graph.shapes[graph.outputs[0]] if len(graph.outputs) == 1 else None
    classes = int(out_shape[0]) if out_shape is not None and len(out_shape) == 1 else None
    return module, tuple(inp.shape), int(steps), classes


def _required_lava(compiled: Compiled | Target[Any], lava: bool | None) -> None:
    """SNC421 before any stage runs when the Lava stage is asked for (`lava=True`, --lava) and there is no Lava
    environment: a requested check that cannot run must not pass."""
    from snncompile.lava_env import lava_python, missing_hint

    if lava and compiled.capabilities.runtime == "lava" and lava_python() is None:
        raise error("SNC421", "the Lava stage was requested (--lava / lava=True) but no Lava environment was found",
                    hint=missing_hint())


def _lava(report: VerifyReport, lava: bool | None, samples: int) -> None:
    from snncompile.lava_env import missing_hint
    from snncompile.verification.lava import LavaStage, lava_python

    python = lava_python()
    graph = report.compiled.result.graph
    if lava is False or report.compiled.capabilities.runtime != "lava":
        return
    if python is None:  # lava=True was refused by _required_lava before the stages ran
        report.problems.append(Diagnostic("SNC421", "Lava stage skipped: no Lava environment was found (the "
                                          "artifact was checked in the bit-exact simulator only)",
                                          hint=f"{missing_hint()}; --no-lava skips it silently", severity="warning"))
        return
    layers = len(graph.metadata["loihi"]["layers"])
    if lava is None and layers > LAVA_AUTO_MAX_LAYERS:
        report.problems.append(Diagnostic(
            "SNC903", f"Lava stage skipped: the network has {layers} netx layers (Lava's CPU runtime starts several "
            f"OS processes per layer; automatic runs stop at {LAVA_AUTO_MAX_LAYERS})",
            hint="pass --lava (Python: lava=True) to run it anyway", severity="warning"))
        return
    if report.stats.head is None:
        return
    x = np.ascontiguousarray(report.stats.head[:, :samples])
    try:
        compare_extra(report.stats, LavaStage(graph, report.layers, python), "bit-exact", x)
    except CompileError as exc:  # Lava is an optional cross-check: its failure is reported, not fatal
        report.problems += [dataclasses.replace(d, severity="warning") for d in exc.diagnostics]


def verify(model: nn.Module | str | os.PathLike[str], target: str | Target[Any] = "loihi",
           data: Any = "digits", *, samples: int | None = None,
           batch: int | None = None, tolerance: float = DEFAULT_TOLERANCE,
           scheduled: bool = False, lava: bool | None = None, lava_samples: int = LAVA_SAMPLES,
           json_path: str | os.PathLike[str] | None = None, html_dir: str | os.PathLike[str] | None = None,
           progress: bool = False, input_shape: Sequence[int] | None = None, timesteps: int | None = None,
           trust_pickle: bool = False, factory: str | None = None,
           options: Mapping[str, Any] | Any | None = None, layout: str | None = None,
           calibrate_on_scored: bool = False, data_root: str | os.PathLike[str] | None = None, workers: int = 1,
           ray: str | None = None, device: str | None = None) -> VerifyReport:
    """Compile `model` for `target` and run it as PyTorch, traced IR, folded/lowered IR and the target's
    simulation (Loihi: bit-exact, plus Lava on `lava_samples` samples when a Lava environment exists, see
    snncompile.lava_env; `lava=True` requires it (SNC421 without one), False skips it) on the same `data`: a spec
    (`digits`, `random` or None, an .npz path, a directory of .npy files, `module:function`, `tonic:NAME` read
    from `data_root`; docs/DATA.md), a torch Dataset or DataLoader, arrays x or (x, y), or any iterable of (x, y)
    batches; it is read chunk by chunk. `tolerance`: the accepted accuracy drop in percentage points, as
    --tolerance (1.0 = one point; the compiled accuracy may be at most that far below the reference).
    The target calibrates on the data's calibration samples (digits: the training split), never on the scored
    ones unless `calibrate_on_scored`. `model` may also be an artifact directory written by compile: see
    verify_artifact. Returns the report; `report.problems` holds failed checks (SNC900 exactness, SNC901
    accuracy, SNC904 layers not compared, SNC905 readout, SNC906 artifact). `device` ("cpu" or "cuda", default
    cpu) is where the simulator stages run.

    `workers` > 1 runs the samples in that many local processes, `ray` (a cluster address, "auto" or "local") as
    Ray tasks; the compile happens once, here, and the report is the one a single process gives (see
    verification.shard and docs/VERIFY.md)."""
    from snncompile.sim.device import simulator_device
    from snncompile.verification.artifact import is_artifact_dir, verify_artifact
    from snncompile.verification.shard import executor_for

    executor = executor_for(workers, ray)
    with simulator_device(device):  # every simulator stage runs there
        if is_artifact_dir(model):
            return verify_artifact(Path(model), data, samples=samples, batch=batch, tolerance=tolerance,  # type: ignore[arg-type]
                                   data_root=data_root, scheduled=scheduled, lava=lava, lava_samples=lava_samples,
                                   json_path=json_path, html_dir=html_dir, progress=progress, executor=executor)
        start = time.perf_counter()
        if lava:  # before the model is even loaded: a requested stage that cannot run
            from snncompile.targets import resolve_target

            _required_lava(resolve_target(target), lava)
        module, shape, steps, classes = _model_and_shape(model, input_shape, timesteps, trust_pickle, factory, layout)
        vdata = load_data(data, shape, steps, classes, calibrate_on_scored, data_root).head(samples)
        source_model = model if isinstance(model, (str, os.PathLike)) else module
        compiled = compile_for_verify(source_model, target, vdata, options=options, input_shape=input_shape,
                                      timesteps=timesteps, trust_pickle=trust_pickle, factory=factory, layout=layout)
        source = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
        return run_verification(compiled, vdata, source, time.perf_counter() - start, batch=batch,
                                tolerance=tolerance, scheduled=scheduled, lava=lava, lava_samples=lava_samples,
                                json_path=json_path, html_dir=html_dir, progress=progress, executor=executor)


def run_verification(compiled: Compiled, vdata: VerifyData, source: str, compile_s: float, *,
                     batch: int | None, tolerance: float, scheduled: bool, lava: bool | None, lava_samples: int,
                     json_path: str | os.PathLike[str] | None, html_dir: str | os.PathLike[str] | None,
                     progress: bool, artifact: dict[str, Any] | None = None,
                     problems: Sequence[Diagnostic] = (), executor: Executor | None = None) -> VerifyReport:
    """Run every stage of a compile on the data (in this process, or sharded through `executor`), check, and
    write the reports (`tolerance` in percentage points). Lava, when it runs, stays in this process (it starts
    its own processes)."""
    start = time.perf_counter() - compile_s
    _required_lava(compiled, lava)
    layers = neuron_layers(compiled.result.traced)
    stages = build_stages(compiled, layers, scheduled=scheduled)
    keep = lava_samples if lava is not False else 0
    execution: dict[str, Any] = {"executor": "single process", "workers": 1}
    if executor is None:
        stats = run_stages(stages, layers, vdata, batch, progress, keep=keep)
    else:
        stats, execution = run_sharded(stages, layers, vdata, batch, progress, executor, keep=keep)
    report = VerifyReport(source, compiled.result.target, vdata, compiled, stats, tolerance / 100)
    report.execution = execution
    report.artifact = artifact if artifact is not None else artifact_json(compiled, None)
    report.problems += list(problems)
    report.accuracy_note = accuracy_note(compiled.result.traced, vdata, stats)
    _lava(report, lava, lava_samples)
    _quantization(report)
    report.resources = measured_resources(report)
    report.problems += _checks(report)
    report.seconds = {"compile": compile_s, **stats.seconds, "total": time.perf_counter() - start}
    _write(report, json_path, html_dir)
    return report


def artifact_json(compiled: Compiled, directory: Path | None) -> dict[str, Any]:
    """Which artifact was checked: its directory (None: the one `compile` with these options writes), the
    target options and the calibration used, the model file's hash and every file's sha256."""
    record = compiled.result.report.get("compile", {})
    return {"directory": None if directory is None else str(directory), "target": compiled.result.target,
            "options": record.get("options"), "model_sha256": record.get("model_sha256"),
            "files": dict(compiled.files)}


def accuracy_note(traced: ir.Graph, data: VerifyData, stats: RunStats) -> str:
    """How accuracy is scored for this network's output, or why it is not."""
    out = traced.node(traced.outputs[0])
    shape = list(traced.shapes[out.name])
    if not stats.labelled:
        return f"accuracy not computed: the data `{data.name}` has no labels"
    if isinstance(out, ir.Readout):
        return "accuracy = argmax of the readout"
    if len(shape) == 1 and stats.correct:
        return f"accuracy = argmax of the output spike counts over T ({shape[0]} output neurons, no readout)"
    return (f"accuracy not computed: the output `{out.origin or out.name}` is {shape} per sample and step, neither "
            "a readout nor one spiking neuron per class")


def _quantization(report: VerifyReport) -> None:
    sched = report.compiled.graph_after("loihi-schedule")
    fixed = graph_of(report.stats.stages, "bit-exact")
    if sched is None or fixed is None:
        return
    from snncompile.verification.quant import quantization_errors

    report.quantization = quantization_errors(sched, fixed, report.layers)


def measured_resources(report: VerifyReport) -> dict[str, Any]:
    """The compile's resource report with SynOps and energy from the spike rates the compiled stage showed."""
    from snncompile.resources import resource_report

    graph = report.compiled.result.graph
    seen = report.stats.populations.get(report.final, {})
    rates = {name: total / max(count, 1) for name, (total, count) in seen.items()}
    for inp in graph.of_kind(ir.Input):  # graded input: a payload event per nonzero value and step
        rates[inp.name] = report.stats.input_nonzero / max(report.stats.input_values, 1)
    target = report.compiled.result.target_value or report.target
    return resource_report(graph, target, rates=rates, timesteps=report.data.timesteps)


def _write(report: VerifyReport, json_path: str | os.PathLike[str] | None,
           html_dir: str | os.PathLike[str] | None) -> None:
    if json_path is not None:
        report.files.append(write_json(report, Path(json_path)))
    if html_dir is not None:
        report.files += write_html(report, Path(html_dir))
