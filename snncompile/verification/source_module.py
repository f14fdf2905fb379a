"""Python objects as data sources: `module:function` / `path/file.py:function` specs, and what the API is handed
(a DataSource, a torch Dataset or DataLoader, arrays, or any iterable of (x, y) batches)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import error
from snncompile.verification.source import ArraySource, DatasetSource, DataSource, IterableSource, as_numeric

FUNCTION_SPEC = re.compile(r"^(?P<module>[^:]+):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")


def is_function_spec(spec: str) -> bool:
    match = FUNCTION_SPEC.match(spec)
    return match is not None and (match["module"].endswith(".py") or
                                  all(p.isidentifier() for p in match["module"].split(".")))


def _import(module: str) -> Any:
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise FileNotFoundError(f"no file {path}")
        spec = importlib.util.spec_from_file_location(f"snncompile_data_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    added = "" not in sys.path and str(Path.cwd()) not in sys.path
    if added:  # a console script does not see the working directory; `python -m` does
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module)
    finally:
        if added:
            sys.path.remove(str(Path.cwd()))


def function_source(spec: str) -> DataSource:
    """Call the function named by `module:function` (or `file.py:function`) without arguments and wrap what it
    returns (see as_source). Import failures, exceptions and unusable results are SNC913."""
    match = FUNCTION_SPEC.match(spec)
    assert match is not None
    try:
        fn = getattr(_import(match["module"]), match["function"])
    except Exception as exc:  # the user's module may raise anything while importing
        raise error("SNC913", f"--data {spec}: cannot import {match['function']} from {match['module']}: "
                    f"{type(exc).__name__}: {exc}", hint="check `python -c 'import MODULE'` from this directory, "
                    "or give the file: --data path/to/file.py:function") from None
    if not callable(fn):
        raise error("SNC913", f"--data {spec}: {match['function']} is a {type(fn).__name__}, not a function",
                    hint="name a function that takes no arguments and returns a Dataset or DataLoader")
    try:
        value = fn()
    except Exception as exc:  # the user's function may raise anything
        raise error("SNC913", f"--data {spec}: {match['function']}() raised {type(exc).__name__}: {exc}",
                    hint="the function takes no arguments and returns a Dataset, a DataLoader or (x, y) batches") \
            from None
    return as_source(value, spec, code="SNC913")


def as_source(value: Any, name: str = "data", code: str = "SNC911", input_shape: tuple[int, ...] | None = None,
              timesteps: int | None = None) -> DataSource:
    """A DataSource for what the caller handed in: a DataSource; an array x, or (x, y) arrays / tensors (x images
    [N, *input_shape] or frames [T, N, *input_shape]); a torch DataLoader (batch-first); a map-style Dataset (len
    and integer indexing, one sample per item); any other iterable of (x, y) batches or of x alone (time-major
    [T, B, ...] or images [B, ...])."""
    if isinstance(value, DataSource):
        return value
    arrays = value if isinstance(value, tuple) and len(value) == 2 and value[0] is not None and \
        all(v is None or isinstance(v, np.ndarray) or _is_tensor(v) for v in value) else \
        (value, None) if isinstance(value, np.ndarray) or _is_tensor(value) else None
    if arrays is not None:
        x = as_numeric(arrays[0], f"{name}: x")
        y = None if arrays[1] is None else as_numeric(arrays[1], f"{name}: y")
        frames = input_shape is not None and x.ndim == len(input_shape) + 2 and x.shape[0] == timesteps \
            and tuple(x.shape[2:]) == input_shape
        n = int(x.shape[1] if frames else x.shape[0]) if x.ndim else 0
        return ArraySource("arrays", name, n, x=x, y=y, frames=frames)
    kind = type(value).__name__
    if _is_dataloader(value):
        return IterableSource("DataLoader", name, _length(value.dataset), layout="bt", iterable=value,
                              details={"batch_size": value.batch_size})
    if hasattr(value, "__getitem__") and hasattr(value, "__len__") and not isinstance(value, (str, bytes, list,
                                                                                                tuple, dict)):
        return DatasetSource("Dataset", name, len(value), dataset=value, details={"class": kind})
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        return IterableSource("batches", name, None, iterable=value, details={"class": kind})
    raise error(code, f"{name} is a {kind}: not a Dataset, a DataLoader, arrays or an iterable of (x, y) batches",
                hint="return a torch.utils.data.Dataset (items (x, y)), a DataLoader, or (x, y) arrays")


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _is_dataloader(value: Any) -> bool:
    from torch.utils.data import DataLoader

    return isinstance(value, DataLoader)


def _length(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None
