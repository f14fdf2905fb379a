"""IR ops of snncompile's ONNX function calls that the float and the integer reader share (conv, pooling)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from snncompile import ir


def node_attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def pair(value: object) -> tuple[int, int]:
    a, b = list(value)[:2]  # type: ignore[call-overload]
    return int(a), int(b)


def conv_kernel(w: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """Inverse of onnx_export.conv_matrices: [kh·kw, g, Ci/g, Co/g] → W [Co, Ci/g, kh, kw]."""
    _, g, cig, cog = w.shape
    return np.ascontiguousarray(w.reshape(*kernel, g, cig, cog).transpose(2, 4, 3, 0, 1).reshape(g * cog, cig,
                                                                                                 *kernel))


def conv_from_function(node: onnx.NodeProto, edges: tuple[ir.Edge, ...], matrices: np.ndarray,
                       bias: np.ndarray | None) -> ir.Conv2d:
    """ir.Conv2d of a snncompile Conv2d_* call: the kernel from its per-offset matrices, geometry from attributes."""
    attrs = node_attributes(node)
    kernel = pair(attrs["kernel_shape"])
    return ir.Conv2d(node.name, edges, node.doc_string, weight=conv_kernel(matrices, kernel), bias=bias,
                     stride=pair(attrs["strides"]), padding=pair(attrs["pads"]), dilation=pair(attrs["dilations"]),
                     groups=int(attrs["group"]))


def pool_from_function(node: onnx.NodeProto, edges: tuple[ir.Edge, ...]) -> ir.Pool2d:
    """ir.Pool2d of a snncompile Pool2d_* call."""
    attrs = node_attributes(node)
    mode = attrs["mode"]
    return ir.Pool2d(node.name, edges, node.doc_string, mode=mode.decode() if isinstance(mode, bytes) else str(mode),
                     kernel=pair(attrs["kernel_shape"]), stride=pair(attrs["strides"]), padding=pair(attrs["pads"]))
