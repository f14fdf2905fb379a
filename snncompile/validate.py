"""One validation layer for what users hand in: model paths, shapes, timesteps, arrays, labels and -o paths.

Each check raises a coded CompileError (usage codes exit 2 in the CLI, see errors_explain.USAGE_CODES) and
runs before any expensive work: tracing, compiling, simulating.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import error

MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".onnx", ".nir", ".h5", ".hdf5")


def model_path(path: str | os.PathLike[str]) -> Path:
    """An existing, readable regular file (a directory or a missing path is a usage error, SNC108)."""
    p = Path(path)
    if not p.exists():
        raise error("SNC108", f"model file {p} does not exist",
                    hint="check the path; MODEL is a torch.save checkpoint, an .onnx or a .nir file")
    if p.is_dir():
        raise error("SNC108", f"model path {p} is a directory, not a file",
                    hint="pass the checkpoint file itself (a compiled artifact directory is run with "
                         "`snncompile simulate`)")
    if not p.is_file():
        raise error("SNC108", f"model path {p} is not a regular file", hint="pass a checkpoint file")
    if not os.access(p, os.R_OK):
        raise error("SNC108", f"model file {p} is not readable", hint="check the file's permissions")
    return p


def _is_int(v: Any) -> bool:
    return isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def input_shape(shape: Any, source: str = "input_shape") -> tuple[int, ...]:
    """A non-empty sequence of positive integers (SNC109 otherwise: a string, a float, zero or negative)."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray)):
        raise error("SNC109", f"{source} {shape!r} is not a sequence of positive integers",
                    hint="give the per-sample shape as integers, e.g. (1, 8, 8) (CLI: --input-shape 1,8,8)")
    dims = list(shape)
    bad = [d for d in dims if not _is_int(d) or int(d) < 1]
    if not dims or bad:
        raise error("SNC109", f"{source} {tuple(dims)!r} is not a non-empty shape of positive integers "
                    f"(bad: {', '.join(map(repr, bad)) or 'empty'})",
                    hint="give the per-sample shape without the batch and time axes, e.g. (1, 8, 8)")
    return tuple(int(d) for d in dims)


def timesteps(steps: Any, source: str = "timesteps") -> int:
    """A positive integer number of timesteps (SNC109 for 0, negative, float or string)."""
    if not _is_int(steps) or int(steps) < 1:
        raise error("SNC109", f"{source} = {steps!r}; the number of timesteps must be an integer >= 1",
                    hint="pass --timesteps T (or set model.timesteps to a positive integer)")
    return int(steps)


def numeric_array(array: Any, name: str, code: str = "SNC207") -> np.ndarray:
    """A real numeric (bool, integer or float) ndarray whose values are all finite; names the first bad index."""
    if not isinstance(array, np.ndarray):
        raise error(code, f"`{name}` is a {type(array).__name__}, not a numeric array",
                    hint="save it with numpy.save / numpy.savez from a numeric array")
    if array.dtype.kind not in "biuf":
        raise error(code, f"`{name}` has dtype {array.dtype} ({_kind(array)}); a real numeric array is needed",
                    hint="convert it first, e.g. numpy.asarray(x, dtype=numpy.float32)")
    if array.size == 0:
        raise error(code, f"`{name}` has shape {list(array.shape)} and holds no values",
                    hint="give at least one sample")
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise error(code, f"`{name}` holds {int(bad.sum())} non-finite value(s) (NaN or ±inf); the first at "
                        f"index {list(index)} is {array[index]}",
                        hint="clean the data (numpy.nan_to_num, or drop those samples) before running")
    return array


def _kind(array: np.ndarray) -> str:
    return {"O": "Python objects", "U": "text", "S": "bytes", "c": "complex", "V": "raw records",
            "M": "dates", "m": "time deltas"}.get(array.dtype.kind, "not numeric")


def labels(y: Any, samples: int, classes: int | None, name: str = "y", code: str = "SNC902") -> np.ndarray:
    """Integer class labels [samples], each in 0..classes-1 (when the number of classes is known)."""
    y = numeric_array(y, name, code)
    if y.shape != (samples,):
        raise error(code, f"`{name}` has shape {list(y.shape)}, expected [{samples}] (one label per sample)",
                    hint="labels are integer class indices, one per sample of `x`")
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        first = int(np.argmax(y != np.round(y)))
        raise error(code, f"`{name}` is not integer: y[{first}] = {y[first]}",
                    hint="labels are integer class indices (numpy.int64)")
    out = y.astype(np.int64)
    if classes is not None:
        bad = (out < 0) | (out >= classes)
        if bad.any():
            first = int(np.argmax(bad))
            raise error(code, f"`{name}` has {int(bad.sum())} label(s) outside the model's {classes} classes "
                        f"0..{classes - 1}; the first is {name}[{first}] = {out[first]}",
                        hint="labels must index the readout's outputs")
    return out


def output_path(out: Path) -> None:
    """-o must name a directory that can be created or replaced: not `.` or a directory above the working
    directory, not under a file, in a parent we may write into (SNC402)."""
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents or resolved.parent == resolved:
        raise error("SNC402", f"-o {out} is the working directory (or one above it); snncompile replaces the "
                    "output directory as a whole", hint="name a new subdirectory, e.g. -o build/model")
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise error("SNC402", f"-o {out} lies under {parent}, which is a file",
                    hint="choose an output directory that is not inside a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise error("SNC402", f"-o {out}: no permission to write into {parent}",
                    hint="choose a directory you can write to")


def output_file(out: Path) -> None:
    """An output file path (simulate -o): its directory exists and is writable, and it is not a directory."""
    if out.is_dir():
        raise error("SNC402", f"-o {out} is a directory; an output file is needed", hint="e.g. -o result.npz")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise error("SNC402", f"-o {out}: the directory {out.parent} does not exist",
                    hint="create it first, or choose an existing directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise error("SNC402", f"-o {out}: no permission to write into {parent}",
                    hint="choose a directory you can write to")


def load_npy(path: Path, name: str = "input", code: str = "SNC207") -> np.ndarray:
    """A .npy file read without pickles, checked numeric and finite (a text, object or corrupt file: `code`)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise error(code, f"cannot read {path} as a .npy array: {str(exc).splitlines()[0] if str(exc) else exc}",
                    hint="write it with numpy.save(path, array) from a numeric array") from None
    if not isinstance(array, np.ndarray):
        raise error(code, f"{path} is an .npz archive, not a single .npy array", hint="write it with numpy.save")
    return numeric_array(array, name, code)
