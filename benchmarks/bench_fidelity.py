"""Fidelity table: PyTorch float vs compiled (Loihi bit-exact) accuracy per supported method, via verify()."""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import EXAMPLES, emit, table
from snncompile.errors import CompileError
from snncompile.verification import verify

METHODS = {
    "tdbn_resnet": "tdBN spiking ResNet (LIF)",
    "mpbn_cnn": "MPBN CNN (membrane-potential BN)",
    "psp_preact_resnet": "PSP-norm pre-activation ResNet",
    "mlf_dsresnet": "MLF DS-ResNet (3-level neurons)",
    "s2nn_mlp": "S2NN MLP (single step)",
}


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}"


def row(name: str, target: str, samples: int | None, scales: str = "bounds") -> list[object]:
    try:
        report = verify(EXAMPLES / f"{name}.pt", target, "digits", samples=samples, lava=False,
                        options={"scales": scales})
    except CompileError as exc:
        d = exc.diagnostics[0]
        return [METHODS[name], name, "–", "–", "–", "–", "–", "–", "–", f"compile error {d.code}: {d.message[:70]}"]
    data = report.to_json()
    acc, pairs = data["accuracy"], {(p["a"], p["b"]): p for p in data["pairs"]}
    exact = pairs.get(("pytorch", "lowered"), {}).get("agreement")
    quant = pairs.get(("lowered", report.final), {}).get("agreement") if report.final != "lowered" else None
    delta = None if acc["compiled"] is None else 100 * (acc["compiled"] - acc["reference"])
    return [METHODS[name], name, _pct(acc["reference"]), _pct(acc["stages"].get("lowered")), _pct(acc["compiled"]),
            "–" if delta is None else f"{delta:+.2f}", _pct(exact), _pct(quant), exact_layers(report),
            "ok" if report.ok else "; ".join(d.code for d in report.problems)]


def exact_layers(report: object) -> str:
    """Exact netx layers of the compile (docs/LOIHI.md §4.3), as `k/n`."""
    meta = report.compiled.result.graph.metadata.get("loihi", {})  # type: ignore[attr-defined]
    layers, exactness = meta.get("layers", []), meta.get("exactness", {})
    return "–" if not layers else f"{sum(1 for la in layers if exactness.get(la[0], {}).get('exact'))}/{len(layers)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="*", default=list(METHODS))
    parser.add_argument("--target", default="loihi")
    parser.add_argument("--samples", type=int, help="first N test samples (default: all 450)")
    parser.add_argument("--scales", default="bounds", choices=("bounds", "calibrated"),
                        help="LoihiOptions.scales for approximate layers")
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = [row(name, args.target, args.samples, args.scales) for name in args.models
            if (EXAMPLES / f"{name}.pt").is_file()]
    header = ["method", "model", "PyTorch %", "folded float IR %", f"{args.target} bit-exact %", "Δ points",
              "spikes PyTorch = float IR %", "spikes float IR = bit-exact %", "exact layers", "verify"]
    note = ("Digits test split (450 images, direct encoding), the split every example was trained on; Loihi "
            "calibrated on the first 256 training images. Spike agreement: share of identical spike decisions "
            "over every neuron, timestep and sample.")
    emit(f"Fidelity: float vs compiled accuracy ({args.target}, scales {args.scales})",
         table(header, rows) + "\n\n" + note, args.out)


if __name__ == "__main__":
    main()
