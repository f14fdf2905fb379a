"""The default check of every compile (API and CLI): model vs traced IR vs compiled IR on random inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snncompile.errors import Diagnostic
from snncompile.verification.check import CHECK_SAMPLES, CheckReport, check_compile, random_input


@dataclass(frozen=True)
class CheckOutcome:
    """The check's report and how to read it: whether the target must be exact, what 'model' was."""

    report: CheckReport
    samples: int
    timesteps: int
    require_exact: bool
    source: str  # "pytorch", "nir" or "onnx"
    note: str = ""

    @property
    def passed(self) -> bool:
        front = all(r.model_vs_traced == 0 for r in self.report.layers)  # the float trace is always exact
        return front and (self.report.exact or not self.require_exact)

    @property
    def uncompared(self) -> list[str]:
        return [r.layer for r in self.report.layers if not r.compared]

    def lines(self) -> list[str]:
        """The terminal table (fits 100 columns)."""
        rep = self.report
        out = [f"check on {self.samples} random inputs, T = {self.timesteps}: compared {rep.compared} of "
               f"{len(rep.layers)} neuron layers"]
        if self.note:
            out.append(f"  {self.note}")
        out.append(f"  {'layer':34s} {'decisions':>10s} {'model≠IR':>9s} {'IR≠compiled':>12s}")
        for row in rep.layers:
            after = "-" if row.traced_vs_compiled is None else str(row.traced_vs_compiled)
            first = "not compared" if not row.compared else str(row.model_vs_traced)
            out.append(f"  {_fit(row.layer, 34)} {row.decisions:10d} {first:>9s} {after:>12s}")
            if row.note:
                out.append(f"    ({row.note})")
        verdict = "within" if rep.readout_ok else "EXCEEDS"
        out.append(f"  readout max |model − compiled| = {rep.readout_model_vs_compiled:.3g} ({verdict} tolerance "
                   f"{rep.readout_tolerance:.2g})")
        if not rep.exact and not self.require_exact:
            out.append("  quantized parameters: differences from the float model are expected")
        elif rep.exact:
            out.append("  all layers identical")
        return out

    def failure(self) -> Diagnostic | None:
        """The diagnostic of a failed check (SNC403, SNC815 for a .nir source), None when it passed."""
        if self.passed:
            return None
        rep, problems = self.report, []
        differing = [r.layer for r in rep.layers if r.model_vs_traced > 0 or (r.traced_vs_compiled or 0) > 0]
        if differing:
            problems.append(f"spikes differ in {len(differing)} layer(s), first `{differing[0]}`")
        if self.uncompared:
            problems.append(f"{len(self.uncompared)} of {len(rep.layers)} layers could not be compared "
                            f"({', '.join(self.uncompared[:3])}{', ...' if len(self.uncompared) > 3 else ''})")
        if not rep.readout_ok:
            problems.append(f"the readout differs by {rep.readout_model_vs_compiled:.3g} "
                            f"(tolerance {rep.readout_tolerance:.2g})")
        table = "\n".join(self.lines())
        if self.source == "nir":
            return Diagnostic("SNC815", "the compiled graph does not reproduce the NIR graph: "
                              + "; ".join(problems) + "\n" + table,
                              hint="'model' is the NIR graph run by forward Euler at --nir-dt; check "
                                   "--nir-convention")
        return Diagnostic("SNC403", "the compiled graph does not reproduce the model: " + "; ".join(problems)
                          + "\n" + table,
                          hint="rerun with --print-ir-after all and report the first differing layer; a layer "
                               "that could not be compared needs its module to return [T, B, ...] or [T·B, ...] "
                               "spikes (check=False / --no-check skips the check)")

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "timesteps": self.timesteps, "require_exact": self.require_exact,
                "source": self.source, "note": self.note, "passed": self.passed, **self.report.to_json()}


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def default_check(result: Any, require_exact: bool, samples: int = CHECK_SAMPLES) -> CheckOutcome:
    """Run the check on a CompileResult: its model (PyTorch, the NIR graph, or the ONNX source) against the
    traced and the compiled graph on `samples` random direct-encoded inputs (the model in chunks that fit
    check.CHECK_MEMORY)."""
    from snncompile.frontend.sources import is_onnx_path

    x = random_input(result.traced, batch=samples)
    source, note = "pytorch", ""
    if "nir" in result.traced.metadata:  # a .nir source: no PyTorch model
        from snncompile.frontend.nir.reference import check_nir_result

        report, source = check_nir_result(result, x), "nir"
    elif is_onnx_path(result.report.get("model")):  # an .onnx source
        from snncompile.frontend.onnx.reference import check_onnx_result

        (report, note), source = check_onnx_result(result, x), "onnx"
    else:
        graph = result.graph
        if "loihi" in graph.metadata:  # integer dynamics without the pipeline: aligned with the model's steps
            from snncompile.targets.loihi.numerics import compact

            graph = compact(graph)
        report = check_compile(result.model, result.traced, graph, x)
    return CheckOutcome(report, int(x.shape[1]), int(x.shape[0]), require_exact, source, note)
