"""Which reader a model argument goes to, decided by its file suffix alone (no format library imported)."""

from __future__ import annotations

import os
from pathlib import Path


def is_nir_path(path: object) -> bool:
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() == ".nir"


def is_onnx_path(model: object) -> bool:
    return isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx")
