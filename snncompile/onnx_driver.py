"""Runs an exported ONNX step model over T timesteps with onnxruntime, feeding the neuron state back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from snncompile.targets.onnx_export import INPUT_PREFIX, STATE_IN, STATE_OUT


def run_onnx(model: onnx.ModelProto | str | Path, x: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """x [T, B, ...] (or one such array per input name). Returns every step output stacked as [T, B, ...]
    (spikes per LIF), except readouts, which are averaged over T: y = (1/T) Σ_t (W x[t] + b)."""
    import onnxruntime as ort

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    inputs = [i for i in session.get_inputs() if i.name.startswith(INPUT_PREFIX)]
    data = x if isinstance(x, dict) else {inputs[0].name[len(INPUT_PREFIX):]: x}
    steps, batch = next(iter(data.values())).shape[:2]
    state: dict[str, np.ndarray] = {}
    for i in session.get_inputs():
        if i.name.startswith(STATE_IN):
            state[i.name] = np.zeros([batch if d == "batch" else d for d in i.shape])
    names = [o.name for o in session.get_outputs()]
    records: dict[str, list[np.ndarray]] = {n: [] for n in names if not n.startswith(STATE_OUT)}
    for t in range(steps):
        feed = {INPUT_PREFIX + k: np.asarray(v[t], dtype=np.float64) for k, v in data.items()} | state
        values = dict(zip(names, session.run(names, feed), strict=True))
        for n in names:
            if n.startswith(STATE_OUT):
                state[STATE_IN + n[len(STATE_OUT):]] = values[n]
            else:
                records[n].append(values[n])
    readouts = {n.name for n in proto.graph.node if n.op_type.startswith("Readout")}
    return {n: (np.mean(v, axis=0) if n in readouts else np.stack(v)) for n, v in records.items()}
