"""The `nir` target: the folded, lowered float IR written as a NIR graph (model.nir) via nir.write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic, InternalError
from snncompile.passes import Pipeline, Rule
from snncompile.passes.pipelines import float_passes
from snncompile.targets.base import Capabilities, Target
from snncompile.targets.loihi.target import calibrated, loihi_passes
from snncompile.targets.nir.legalize import (
    APPROXIMATIONS,
    NEURON_KINDS,
    SUPPORTED,
    NirLegalize,
    NirMaxPool,
    NirOptions,
    errors,
    nir_findings,
)
from snncompile.targets.nir.quantized import NirDequantize
from snncompile.version import __version__

EQUATIONS = ("v[t] = (1 - dt/tau)*v[t-1] + (dt*r/tau)*I[t]; z[t] = [v[t] > v_threshold]; v[t] = v_reset where "
             "z[t]; CubaLIF: i[t] = (1 - dt/tau_syn)*i[t-1] + (dt*w_in/tau_syn)*S[t] first, then v with I = i[t]")


def option_problems(options: NirOptions) -> list[Diagnostic]:
    """Every invalid NirOptions field, as SNC806 errors."""
    problems = []
    if not (np.isfinite(options.dt) and options.dt > 0):
        problems.append(f"dt must be a positive number of seconds, got {options.dt}")
    if unknown := set(options.allow) - set(APPROXIMATIONS):
        problems.append(f"unknown approximation(s) {sorted(unknown)}; known: {', '.join(APPROXIMATIONS)}")
    if options.quantize not in (None, "loihi"):
        problems.append(f"quantize must be None or 'loihi', not {options.quantize!r}")
    if options.input_gain not in ("r", "weights"):
        problems.append(f"input_gain must be 'r' or 'weights', not {options.input_gain!r}")
    return [Diagnostic("SNC806", p, hint="see `snncompile compile --help` for the --nir-* options") for p in problems]


def check_options(options: NirOptions) -> None:
    if problems := option_problems(options):
        raise CompileError(problems)


def graph_metadata(graph: ir.Graph, options: NirOptions, approximations: list[str]) -> dict[str, Any]:
    """dt, reset kinds, comparisons and the readout convention: what NIR itself does not record."""
    neurons = [n for n in graph.nodes if isinstance(n, NEURON_KINDS)]
    number_format = "float64" if options.quantize is None else \
        f"float64 values of {options.quantize}-quantized parameters (integer * scale)"
    meta: dict[str, Any] = {
        "source": "snncompile", "snncompile_version": __version__, "dt": options.dt,
        "discretisation": "forward-euler", "equations": EQUATIONS, "input_gain": options.input_gain,
        "number_format": number_format, "comparison": ",".join(sorted({n.comparison for n in neurons})) or ">",
        "reset": ",".join(sorted({n.reset for n in neurons})) or "zero",
    }
    if graph.timesteps is not None:
        meta["timesteps"] = int(graph.timesteps)
    readouts = [o for o in graph.outputs if isinstance(graph.node(o), ir.Readout)]
    if readouts:
        meta["readout"] = "mean over timesteps of " + ",".join(readouts) + ", computed by the host"
    if approximations:
        meta["approximations"] = "; ".join(approximations)
    if "nir_quantization" in graph.metadata:
        meta["quantization"] = graph.metadata["nir_quantization"]
    return meta


NIR_CAPABILITIES = Capabilities(ops=SUPPORTED, per_neuron_thresholds=True, number_format="float64", notes=(
    "forward-Euler dt convention: tau = dt/(1 - decay), r = gain*tau/dt; dt and semantics in graph metadata",
    "refuses subtractive/delayed resets and >= unless allowed explicitly; no max-pooling node in NIR",
    "edge delays become nir.Delay nodes; a readout becomes an Affine output averaged over time by the host",
))


@dataclass(frozen=True)
class NirTarget(Target[NirOptions]):
    name = "nir"
    description = "NIR graph (model.nir) for snntorch, spikingjelly, norse and other NIR platforms"
    capabilities = NIR_CAPABILITIES
    options_type = NirOptions
    flag_prefix = "nir"

    def pipeline(self) -> Pipeline:
        check_options(self.options)
        if self.options.quantize == "loihi":
            front = (*float_passes(), *loihi_passes(self.options.loihi), NirDequantize())
        else:
            front = (*float_passes(), NirMaxPool())
        return Pipeline((*front, NirLegalize(options=self.options)))

    def rules(self) -> tuple[Rule, ...]:
        return (Rule("nir-expressible", lambda g: errors(g, self.options), "NIR can represent every op"),)

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        import nir

        from snncompile.targets.nir.export import to_nir  # the nir library only when writing a .nir file

        opts = self.options
        approx = [d.render() for d in nir_findings(graph, opts) if d.severity == "warning"]
        nir_graph = to_nir(graph, opts.dt, graph_metadata(graph, opts, approx))
        path = directory / "model.nir"
        nir.write(path, nir_graph)
        try:
            nir.read(path)
        except Exception as exc:
            raise InternalError(f"nir.read rejects the written {path.name}: {type(exc).__name__}: {exc}") from exc
        report["nir"] = {"dt": opts.dt, "input_gain": opts.input_gain, "allow": sorted(opts.allow),
                         "quantize": opts.quantize, "approximations": approx, "nodes": len(nir_graph.nodes),
                         "edges": len(nir_graph.edges)}
        return [path]

    @property
    def exact(self) -> bool:
        return self.options.quantize is None

    def for_verification(self, calibration: Any) -> NirTarget:
        if self.options.quantize != "loihi":
            return self
        return self.with_options(loihi=calibrated(self.options.loihi, calibration))  # type: ignore[return-value]


NIR = NirTarget()
