"""Runs an ONNX step model over T timesteps with onnxruntime, feeding state and delay lines back.

Self-contained (numpy, onnx, onnxruntime and the standard library only): the onnx targets copy this file
next to model.onnx as run_onnx.py, so an artifact runs without snncompile:
    python run_onnx.py model.onnx x.npy out.npz      # x [T, B, ...]; out: every output, readouts averaged
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

INPUT_PREFIX = "x:"
"""Data inputs are named x:<input>; recurrent inputs <kind>:<n> are fed by outputs <kind>_next:<n>."""

NUMPY_TYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32, "tensor(int64)": np.int64,
               "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
               "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def recurrent_pairs(input_names: list[str], output_names: list[str]) -> dict[str, str]:
    """Input → output that feeds it at the next step, by the naming convention `<kind>:<n>` ←
    `<kind>_next:<n>` (state:, delay:, or any other kind)."""
    outputs = set(output_names)
    pairs = {}
    for name in input_names:
        kind, sep, rest = name.partition(":")
        if sep and f"{kind}_next:{rest}" in outputs:
            pairs[name] = f"{kind}_next:{rest}"
    return pairs


def _session(proto: onnx.ModelProto) -> object:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _zeros(info: object, batch: int) -> np.ndarray:
    shape = [d if isinstance(d, int) else batch for d in info.shape]  # type: ignore[attr-defined]
    return np.zeros(shape, dtype=NUMPY_TYPES.get(info.type, np.float64))  # type: ignore[attr-defined]


def run_onnx(model: onnx.ModelProto | str | Path, x: np.ndarray | Mapping[str, np.ndarray],
             state_pairs: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """x [T, B, ...] (or one such array per input name, without the `x:` prefix; a model without `x:` inputs
    takes its data inputs by their full names). Returns every step output stacked as [T, B, ...] (spikes
    per neuron), except readouts (nodes whose op type starts with "Readout"), averaged over T:
    y = (1/T) Σ_t (W x[t] + b). Recurrent inputs (state_pairs, default recurrent_pairs by name) start at
    zeros of their declared shape and type, any non-integer dimension being the batch size."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    session = _session(proto)
    infos = {i.name: i for i in session.get_inputs()}  # type: ignore[attr-defined]
    names = [o.name for o in session.get_outputs()]  # type: ignore[attr-defined]
    pairs = dict(state_pairs) if state_pairs is not None else recurrent_pairs(list(infos), names)
    data_names = [n for n in infos if n not in pairs]
    prefixed = any(n.startswith(INPUT_PREFIX) for n in data_names)
    if not isinstance(x, Mapping):
        x = {data_names[0][len(INPUT_PREFIX):] if prefixed else data_names[0]: x}
    data = {(INPUT_PREFIX + k if prefixed else k): v for k, v in x.items()}
    steps, batch = next(iter(data.values())).shape[:2]
    state = {n: _zeros(infos[n], batch) for n in pairs}
    feedback = {out: inp for inp, out in pairs.items()}
    records: dict[str, list[np.ndarray]] = {n: [] for n in names if n not in feedback}
    for t in range(steps):
        feed = {k: np.asarray(v[t]).astype(NUMPY_TYPES.get(infos[k].type, np.float64)) for k, v in data.items()}
        values = dict(zip(names, session.run(names, feed | state), strict=True))  # type: ignore[attr-defined]
        for n, value in values.items():
            if n in feedback:
                state[feedback[n]] = value
            else:
                records[n].append(value)
    readouts = {o for n in proto.graph.node if n.op_type.startswith("Readout") for o in (n.name, *n.output)}
    return {n: (np.mean(v, axis=0) if n in readouts else np.stack(v)) for n, v in records.items()}


def save_outputs(values: Mapping[str, np.ndarray], path: Path) -> None:
    """Writes the outputs to an .npz atomically (':' in names becomes '_', e.g. state_next_lif1)."""
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **{k.replace(":", "_"): v for k, v in values.items()})
    tmp.replace(path)


DRIVER_NAME = "run_onnx.py"


def copy_driver(directory: Path) -> Path:
    """This file, written next to an exported model so that the artifact runs without snncompile."""
    path = directory / DRIVER_NAME
    path.write_text(Path(__file__).read_text())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an ONNX step model over the T steps of x [T, B, ...].")
    parser.add_argument("model", help="model.onnx")
    parser.add_argument("input", help=".npy array [T, B, *input_shape]")
    parser.add_argument("output", help=".npz: every output [T, B, ...], readouts averaged over T [B, classes]")
    args = parser.parse_args(argv)
    values = run_onnx(args.model, np.load(args.input))
    save_outputs(values, Path(args.output))
    print(f"{args.model}: {len(values)} outputs over {np.load(args.input).shape[0]} steps -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
