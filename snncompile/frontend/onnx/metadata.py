"""The `snncompile` metadata entry of an ONNX model (a JSON object), read once for every ONNX reader."""

from __future__ import annotations

import json
from typing import Any

import onnx

from snncompile.errors import CompileError, Diagnostic
from snncompile.formats.onnx_naming import METADATA_KEY


def snncompile_metadata(proto: onnx.ModelProto) -> dict[str, Any] | None:
    """The model's `snncompile` metadata (a JSON object), None when absent; SNC952 when it is not JSON."""
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        return None
    try:
        meta = json.loads(props[METADATA_KEY])
    except ValueError as exc:
        raise CompileError(Diagnostic("SNC952", f"the model's `{METADATA_KEY}` metadata is not JSON: {exc}",
                                      hint="export the model again with snncompile (--target onnx), or remove "
                                           f"the `{METADATA_KEY}` metadata entry")) from None
    if not isinstance(meta, dict):
        raise CompileError(Diagnostic("SNC952", f"the model's `{METADATA_KEY}` metadata is a JSON "
                                      f"{type(meta).__name__}, not an object",
                                      hint="export the model again with snncompile (--target onnx)"))
    return meta
