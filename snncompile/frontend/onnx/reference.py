"""`--check` for an .onnx source: the ONNX model itself, run step by step with onnxruntime, is the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch

from snncompile import ir
from snncompile.extras import available, install_hint
from snncompile.formats.onnx_naming import FLOAT_ARITHMETIC, METADATA_KEY
from snncompile.frontend.onnx.metadata import snncompile_metadata
from snncompile.ir.traits import float_neurons
from snncompile.sim import simulate
from snncompile.targets.onnx.driver import run_onnx
from snncompile.verification.check import CheckReport, LayerAgreement, readout_tolerance
from snncompile.verification.compare import compare


def source_io(proto: onnx.ModelProto) -> tuple[dict[str, str], dict[str, str] | None]:
    """IR neuron name → the ONNX tensor holding its spikes, and the recurrent input → output pairs (None:
    by the step-model naming convention, see onnx_driver.recurrent_pairs)."""
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY in props:
        return {}, None  # snncompile's own models name spikes as the IR nodes
    from snncompile.frontend.onnx.torch_reader import match_torch_onnx, state_pairs

    _, lifs = match_torch_onnx(proto)
    return {lif.name: lif.spike for lif in lifs.values()}, state_pairs(lifs)


def data_dtype(proto: onnx.ModelProto) -> torch.dtype:
    inits = {t.name for t in proto.graph.initializer}
    types = {i.type.tensor_type.elem_type for i in proto.graph.input if i.name not in inits}
    return torch.float32 if types == {onnx.TensorProto.FLOAT} else torch.float64


def run_source(proto: onnx.ModelProto, x: np.ndarray, spikes: dict[str, str],
               pairs: dict[str, str] | None) -> dict[str, np.ndarray]:
    """Every output of the source over T steps, spike tensors that are not graph outputs made outputs."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    declared = {o.name for o in model.graph.output}
    elem = onnx.TensorProto.FLOAT if data_dtype(proto) == torch.float32 else onnx.TensorProto.DOUBLE
    for tensor in spikes.values():
        if tensor not in declared:
            model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, elem, None))
    return run_onnx(model, x, pairs)


def check_onnx_result(result: Any, x: torch.Tensor) -> tuple[CheckReport, str]:
    """Per neuron: ONNX source (onnxruntime) vs imported IR, and imported vs compiled IR; plus readouts.
    Where onnxruntime cannot run the source (no kernel, e.g. float64 Conv), the imported IR is the model."""
    proto, traced, compiled = result.model, result.traced, result.graph
    if "loihi" in compiled.metadata:
        from snncompile.targets.loihi.numerics import compact

        compiled = compact(compiled)
    dtype = data_dtype(proto)
    x = x.to(dtype)
    meta = snncompile_metadata(proto) or {}
    ref: dict[str, np.ndarray] | None = None
    spikes: dict[str, str] = {}
    note = "model = the ONNX source run step by step with onnxruntime"
    try:
        if not available("onnxruntime"):
            raise ModuleNotFoundError(f"onnxruntime is not installed ({install_hint('onnx')})")
        if meta.get("arithmetic", FLOAT_ARITHMETIC) != FLOAT_ARITHMETIC:
            raise ValueError(f"{meta['arithmetic']} arithmetic is the imported graph's own semantics")
        spikes, pairs = source_io(proto)
        ref = run_source(proto, x.numpy(), spikes, pairs)
    except Exception as exc:
        note = f"model = the imported IR (the ONNX source was not run: {type(exc).__name__}: {exc})"
    res = simulate(traced, x, dtype=dtype)
    cmp = compare(traced, compiled, x)
    rows = []
    for n in float_neurons(traced):
        got = None if ref is None else ref.get(spikes.get(n.name, n.name))
        mism = 0 if ref is None else -1 if got is None else int(np.sum(got != res[n.name]))
        rows.append(LayerAgreement(n.name, int(res[n.name].size), mism, cmp.mismatches.get(n.name)))
    out = simulate(compiled, x, record="outputs", dtype=dtype).output
    name = traced.outputs[0]
    expected = res[name] if ref is None or name not in ref else ref[name]
    if isinstance(traced.node(name), ir.Readout) and expected.ndim == out.ndim + 1:
        expected = expected.mean(0)  # a PyTorch export returns the per-step value
    error = float(np.max(np.abs(out - expected))) if out.shape == expected.shape else float("nan")
    return CheckReport(rows, error, str(dtype).removeprefix("torch."), readout_tolerance(expected, dtype)), note
