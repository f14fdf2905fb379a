"""Diagnostics and the exception types that carry them (user errors vs compiler bugs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# Stable diagnostic codes. Tests and users match on these, so never renumber.
CODES: dict[str, str] = {
    "SNC100": "unsupported module",
    "SNC101": "unsupported function or method in the traced graph",
    "SNC102": "unsupported layer option",
    "SNC103": "untrusted class in a pickled checkpoint",
    "SNC104": "checkpoint could not be loaded",
    "SNC105": "input shape unknown",
    "SNC106": "factory could not be imported or called",
    "SNC107": "model could not be traced",
    "SNC108": "model path does not exist or is not a readable file",
    "SNC109": "input shape or number of timesteps invalid",
    "SNC110": "model has no layers",
    "SNC111": "converter module could not be loaded",
    "SNC112": "tensor operation on the time or batch axes not understood (input layout)",
    "SNC113": "module subclass overrides forward() of a class whose converter would ignore it",
    "SNC200": "IR verification failed",
    "SNC201": "duplicate node name",
    "SNC202": "edge from an unknown node",
    "SNC203": "zero-delay cycle or nodes out of topological order",
    "SNC204": "shape mismatch",
    "SNC205": "invalid parameter",
    "SNC206": "graph outputs invalid",
    "SNC207": "input array not usable (unreadable, not numeric, empty or not finite)",
    "SNC300": "pass precondition not met",
    "SNC301": "pass postcondition not met",
    "SNC400": "unknown target",
    "SNC401": "unknown pass",
    "SNC402": "output path not usable",
    "SNC404": "unknown or invalid target option",
    "SNC500": "normalization cannot be folded exactly",
    "SNC501": "norm with an offset before a zero-padded conv is not exactly foldable",
    "SNC502": "MPBN soft reset cannot be folded into a subtract-threshold LIF",
    "SNC503": "folded normalization parameter not finite",
    "SNC504": "folded threshold not positive",
    "SNC520": "residual sum feeds a non-linear op",
    "SNC521": "residual sum is a graph output",
    "SNC522": "no one-to-one synapse for a population of this rank",
    "SNC523": "residual sum inside a loop without a neuron",
    "SNC530": "threshold not positive and finite (retired with legalize-threshold; not to be reused)",
    "SNC531": "per-neuron threshold scale not expressible in shared synapse rows (retired; not to be reused)",
    "SNC600": "Loihi: population not lowered to the fixed-point LIF",
    "SNC601": "Loihi: neuron input is not a synapse reading a population or the input",
    "SNC602": "Loihi: max-pooling of values that are not binary spikes",
    "SNC603": "Loihi: number of timesteps unknown",
    "SNC604": "Loihi: explicit edge delays not supported",
    "SNC605": "Loihi: synaptic delay beyond 62 extra steps",
    "SNC606": "Loihi: readout input is not a linear map of spike counts",
    "SNC607": "Loihi: dense netx layer not fed by its predecessor",
    "SNC608": "Loihi: the network has no neuron population",
    "SNC610": "Loihi: neuron option not supported (levels, reset kind)",
    "SNC611": "Loihi: non-strict threshold on a leaky neuron has no exact encoding",
    "SNC612": "Loihi: threshold or gain varies within a conv channel",
    "SNC613": "Loihi: threshold cannot be represented (not positive, or no integer fits)",
    "SNC614": "Loihi: all weights of a synapse quantize to zero",
    "SNC615": "Loihi: decay out of range or not shared by the layer",
    "SNC616": "Loihi: weights not even integers in [-256, 254]",
    "SNC617": "Loihi: bias beyond 13 bits",
    "SNC618": "Loihi: the graph is already quantized (an integer model read back)",
    "SNC619": "Loihi: unknown approximation in allow",
    "SNC620": "Loihi: decay rounded to a 12-bit vDecay (or iDecay)",
    "SNC621": "Loihi: decay register outside the documented range (vDecay 4096, iDecay 0)",
    "SNC622": "Loihi: synaptic current may wrap (24 bits)",
    "SNC623": "Loihi: voltage may saturate (24 bits)",
    "SNC625": "Loihi: synaptic sum beyond Lava's int32 arithmetic",
    "SNC626": "Loihi: layers quantized approximately (parameters with no exact integer form)",
    "SNC640": "Loihi: the network needs more than one chip",
    "SNC641": "Loihi: the network needs more chips than the chip budget",
    "SNC700": "SNN-library module not supported",
    "SNC701": "SNN-library module setting not reproducible exactly",
    "SNC702": "SNN-library module used at the wrong time granularity",
    "SNC703": "papers' module: a class of that name has a different structure or behaviour",
    "SNC704": "papers' module in a state that cannot be compiled (ANN mode, batch statistics)",
    "SNC403": "compiled graph disagrees with the model",
    "SNC410": "op not supported by the target",
    "SNC420": "optional package not installed (the hint names the pip extra)",
    "SNC421": "Lava environment not found",
    "SNC422": "Lava environment could not be created",
    "SNC800": "op has no NIR equivalent",
    "SNC801": "reset kind or timing not expressible in NIR",
    "SNC802": "non-strict threshold comparison not expressible in NIR",
    "SNC803": "decay has no NIR time constant",
    "SNC804": "graph structure not expressible in NIR",
    "SNC805": "NIR export approximation accepted by opt-in",
    "SNC806": "invalid NIR option",
    "SNC810": "NIR file could not be read",
    "SNC811": "NIR node type not supported by the reader",
    "SNC812": "NIR parameters not representable in the IR",
    "SNC813": "NIR graph structure not supported",
    "SNC814": "NIR dt not given; a default was assumed",
    "SNC815": "compiled graph disagrees with the NIR graph's own semantics",
    "SNC816": "NIR writer not identifiable: --nir-convention auto refuses to guess",
    "SNC817": "NIR reset not given; the convention's default was assumed",
    "SNC900": "verification: a stage that must be exact disagrees with the previous one",
    "SNC901": "verification: compiled accuracy below the reference beyond the tolerance",
    "SNC902": "verification data could not be read or does not fit the model",
    "SNC903": "verification: the Lava stage failed or is unavailable",
    "SNC904": "verification: neuron layers could not be compared",
    "SNC905": "verification: the readout of an exact stage differs from the reference",
    "SNC906": "verification: the artifact on disk differs from its recompilation, or its record is incomplete",
    "SNC910": "verification data spec names nothing usable (no such file, directory, function or dataset)",
    "SNC911": "a batch of verification data does not fit the model (type, shape or values)",
    "SNC912": "verification labels missing in some batches, or not integer classes of the model",
    "SNC913": "a module:function data source could not be imported, failed, or returned no usable data",
    "SNC914": "tonic dataset files missing under the data root (nothing is downloaded)",
    "SNC915": "tonic sensor size does not match the model's input shape",
    "SNC916": "a data source needs an optional library that is not installed",
    "SNC917": "a one-shot iterator of verification data was read twice",
    "SNC918": "a compressed .npz array of frames is too large to read (cannot be memory-mapped)",
    "SNC920": "simulate: the artifact does not record how to name its outputs (compiled by an older version)",
    "SNC950": "ONNX export: op or edge has no ONNX step form",
    "SNC951": "ONNX import: operator not supported by the reader",
    "SNC952": "ONNX import: not an snncompile step model",
    "SNC960": "simulator device: CUDA asked for but not available",
    "SNC961": "simulator device: unknown device name",
    "SNC970": "verification workers: --workers / --ray value invalid or combined wrongly",
    "SNC972": "verification workers: cannot connect to or start the Ray cluster",
    "SNC973": "verification workers: the stages cannot be sent to a worker process (pickling)",
    "SNC974": "verification workers: a worker process or Ray node died",
    "SNC975": "verification workers: verify(workers=N) called while a worker imported the main script",
}

USAGE_CODES: frozenset[str] = frozenset({"SNC108", "SNC400", "SNC401", "SNC404", "SNC970"})
"""Codes that report a wrong command line rather than a problem with the model: the CLI exits 2 for them."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem: a stable code, what is wrong, where (IR node and PyTorch origin), and a fix."""

    code: str
    message: str
    node: str | None = None
    origin: str | None = None
    hint: str | None = None
    severity: Literal["error", "warning"] = "error"

    def render(self) -> str:
        where = ""
        if self.node:
            where += f" node %{self.node}"
        if self.origin:
            where += f" (from `{self.origin}`)"
        text = f"{self.severity}[{self.code}]{where}: {self.message}"
        hint = self.effective_hint
        if hint:
            text += f"\n  hint: {hint}"
        return text

    @property
    def effective_hint(self) -> str | None:
        """The raise site's hint, else the code's general advice (errors_explain; `--explain CODE`)."""
        if self.hint:
            return self.hint
        from snncompile.errors_explain import default_hint

        return default_hint(self.code)

    def to_json(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "node": self.node,
            "origin": self.origin,
            "hint": self.effective_hint,
        }


class CompileError(Exception):
    """A problem with the user's model or request; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]) -> None:
        diags = (diagnostics,) if isinstance(diagnostics, Diagnostic) else tuple(diagnostics)
        if not diags:
            raise ValueError("CompileError needs at least one diagnostic")
        self.diagnostics: tuple[Diagnostic, ...] = diags
        super().__init__("\n".join(d.render() for d in diags))

    def __reduce__(self) -> tuple[type[CompileError], tuple[tuple[Diagnostic, ...]]]:
        # raised in a verification worker process, it must arrive in the parent with its diagnostics
        return (type(self), (self.diagnostics,))

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]

    @property
    def is_usage(self) -> bool:
        """Every diagnostic is a usage error (a missing file, an unknown target or pass name)."""
        return all(d.code in USAGE_CODES for d in self.diagnostics)


class InternalError(Exception):
    """A compiler bug: a pass crashed or broke an IR invariant. `ir_dump` points at the IR it saw."""

    def __init__(self, message: str, ir_dump: str | None = None) -> None:
        self.ir_dump = ir_dump
        text = message if ir_dump is None else f"{message}\n  IR dumped to: {ir_dump}"
        super().__init__(text)


def error(code: str, message: str, *, node: str | None = None, origin: str | None = None,
          hint: str | None = None) -> CompileError:
    """Shorthand for a CompileError with a single diagnostic."""
    return CompileError(Diagnostic(code, message, node=node, origin=origin, hint=hint))
