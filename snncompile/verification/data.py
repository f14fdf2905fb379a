"""Verification inputs: a DataSource for `--data` (digits, random, .npz, .npy directory, module:function,
tonic:NAME, or a Python object) with the calibration data, read chunk by chunk as float64 frames [T, b, ...]."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import error
from snncompile.verification.source import ArraySource, DataSource, Framer, encode, rechunk

__all__ = ["CALIBRATION_SAMPLES", "VerifyData", "encode", "load_data"]

CALIBRATION_SAMPLES = 256
"""Training samples given to the target's calibration (the shipped Loihi accuracy test uses the same); also the
most samples of the scored data used as calibration data (calibrate_on_scored, or a data spec given as the
Loihi calibration without a `calibration` array)."""
DATA_SPECS = "digits|random|FILE.npz|DIR|module:function|tonic:NAME"


@dataclass(frozen=True)
class VerifyData:
    """A source of samples for the model's input shape and T, its calibration frames [T, M, ...] (or None), and
    an optional limit on the samples read. `chunks(size)` yields float64 frames [T, b, ...] and labels."""

    source: DataSource
    input_shape: tuple[int, ...]
    timesteps: int
    classes: int | None
    calibration: np.ndarray | None
    limit: int | None = None
    code: str = "SNC911"
    """The code of shape and value errors found while reading (SNC902 for files checked up front)."""

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def samples(self) -> int | None:
        """The number of samples read, when the source knows its length."""
        n = self.source.length
        return n if self.limit is None else self.limit if n is None else min(n, self.limit)

    def head(self, n: int | None) -> VerifyData:
        """Only the first n samples (all when n is None)."""
        return self if n is None else replace(self, limit=n if self.limit is None else min(n, self.limit))

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Frames [T, b, ...] (float64, b <= size) and int64 labels [b] or None, read batch by batch."""
        framer = Framer(self.source, self.input_shape, self.timesteps, self.classes, self.code,
                        "SNC902" if self.code == "SNC902" else "SNC912")
        count = 0
        for chunk in rechunk(framer, size, self.limit):
            count += chunk[0].shape[1]
            yield chunk
        if count == 0:
            raise error(self.code, f"the data {self.name} yielded no samples", hint="give at least one sample")

    def describe(self) -> dict[str, Any]:
        """Kind, name, path, transform and sample count of the source, for the report."""
        calibration = None if self.calibration is None else int(self.calibration.shape[1])
        return {**self.source.describe(), "timesteps": self.timesteps, "limit": self.limit,
                "calibration_samples": calibration}

    @property
    def frames(self) -> np.ndarray:
        """Every sample at once (small data and tests only: verification reads chunks)."""
        return np.concatenate([x for x, _ in self.chunks(1 << 16)], axis=1)

    @property
    def labels(self) -> np.ndarray | None:
        """Every label at once, or None (small data and tests only)."""
        ys = [y for _, y in self.chunks(1 << 16)]
        return None if any(y is None for y in ys) else np.concatenate(ys)  # type: ignore[arg-type]


def load_digits(timesteps: int) -> VerifyData:
    """The test split of scikit-learn's digits (the split every example was trained on); calibration from
    the first training samples."""
    from snncompile.datasets import digits_split

    x_tr, _, x_te, y_te = digits_split()
    source = ArraySource("digits", "digits", len(x_te), x=x_te, y=y_te, transform="direct encoding",
                         details={"split": "test (25 %, random_state 0)"})
    return VerifyData(source, (1, 8, 8), timesteps, None, encode(x_tr[:CALIBRATION_SAMPLES], timesteps))


def random_data(input_shape: tuple[int, ...], timesteps: int, samples: int = 32, seed: int = 0,
                calibrate_on_scored: bool = False) -> VerifyData:
    """Unlabelled images uniform in [0, 1), direct-encoded; calibration on other random images (the same ones
    when `calibrate_on_scored`)."""
    rng = np.random.default_rng(seed)
    images = rng.random((samples, *input_shape))
    other = images if calibrate_on_scored else rng.random((samples, *input_shape))
    source = ArraySource("random", "random", samples, x=images, transform="direct encoding",
                         details={"seed": seed})
    return VerifyData(source, input_shape, timesteps, None, encode(other, timesteps))


def _file_source(path: Path, input_shape: tuple[int, ...], timesteps: int,
                 classes: int | None) -> tuple[ArraySource, Any]:
    from snncompile.verification.source_files import array_source, npy_dir, open_npz

    arrays = npy_dir(path) if path.is_dir() else open_npz(path, input_shape)
    if "x" not in arrays:
        raise error("SNC902", f"{path} has no array `x` (found: {', '.join(sorted(arrays)) or 'none'})",
                    hint="numpy.savez(path, x=images, y=labels)")
    return array_source("npy-dir" if path.is_dir() else "npz", path, arrays, input_shape, timesteps, classes)


def _calibration_frames(raw: Any, name: str, input_shape: tuple[int, ...], timesteps: int) -> np.ndarray:
    from snncompile import validate
    from snncompile.verification.source_files import materialize

    cal = validate.numeric_array(materialize(raw), f"{name}: calibration", "SNC902")
    shape = tuple(cal.shape)
    if shape[1:] == input_shape and shape[0] >= 1:
        return encode(cal, timesteps)
    if shape[2:] == input_shape and shape[0] == timesteps:
        return np.asarray(cal, np.float64)
    dims = ", ".join(map(str, input_shape))
    raise error("SNC902", f"{name}: `calibration` has shape {list(shape)}; expected images [N, {dims}] or frames "
                f"[{timesteps}, N, {dims}]", hint="images are direct-encoded (repeated over the T timesteps); N >= 1")


def source_for(spec: Any, input_shape: tuple[int, ...], timesteps: int, classes: int | None,
               data_root: str | os.PathLike[str] | None = None) -> tuple[DataSource, Any, str]:
    """(source, calibration: a raw array, a source of training samples or None, code of its read-time errors)
    for a spec or a Python object."""
    if not isinstance(spec, (str, os.PathLike)):
        from snncompile.verification.source_module import as_source

        return as_source(spec, type(spec).__name__, input_shape=input_shape, timesteps=timesteps), None, "SNC911"
    text = str(spec)
    if text.startswith("tonic:"):
        from snncompile.verification.source_tonic import tonic_source

        return (*tonic_source(text, data_root, input_shape, timesteps), "SNC911")
    path = Path(spec)
    if path.exists():
        source, raw = _file_source(path, input_shape, timesteps, classes)
        return source, raw, "SNC902"
    from snncompile.verification.source_module import function_source, is_function_spec

    if is_function_spec(text):
        return function_source(text), None, "SNC911"
    if text.endswith((".npz", ".npy")) or os.sep in text:
        raise error("SNC910", f"verification data {text!r} does not exist",
                    hint=f"check the path; --data is one of {DATA_SPECS} (docs/DATA.md)")
    raise error("SNC910", f"verification data {text!r} is none of {DATA_SPECS}",
                hint="pass --data digits, --data random, an .npz file, a directory with x.npy (and y.npy), "
                     "pkg.module:function, file.py:function or tonic:NMNIST with --data-root (docs/DATA.md)")


def load_data(spec: Any, input_shape: tuple[int, ...], timesteps: int, classes: int | None = None,
              calibrate_on_scored: bool = False, data_root: str | os.PathLike[str] | None = None) -> VerifyData:
    """`digits`, `random` (or None), a path to an .npz file or a .npy directory, `module:function`,
    `tonic:NAME` (with `data_root`), or a Python object (DataSource, Dataset, DataLoader, arrays, (x, y)
    batches). `classes`: the number of model outputs, which labels must index. The calibration data never
    holds the scored samples unless `calibrate_on_scored` (digits: the training split; a file's `calibration`
    array; tonic: the first CALIBRATION_SAMPLES of its training split when extracted; else none, or with
    `calibrate_on_scored` the first CALIBRATION_SAMPLES scored samples)."""
    if spec is None or (isinstance(spec, str) and spec == "random"):
        return random_data(input_shape, timesteps, calibrate_on_scored=calibrate_on_scored)
    if isinstance(spec, str) and spec == "digits":
        if input_shape != (1, 8, 8):
            raise error("SNC902", f"the digits data is [1, 8, 8] images; the model takes {list(input_shape)}",
                        hint="pass --data FILE.npz with inputs of the model's shape")
        return load_digits(timesteps)
    source, raw, code = source_for(spec, input_shape, timesteps, classes, data_root)
    data = VerifyData(source, input_shape, timesteps, classes, None, code=code)
    if isinstance(raw, DataSource):  # a training split (tonic): its first samples calibrate
        calibration = VerifyData(raw, input_shape, timesteps, None, None).head(CALIBRATION_SAMPLES).frames
        return replace(data, calibration=calibration)
    if raw is not None:
        return replace(data, calibration=_calibration_frames(raw, source.name, input_shape, timesteps))
    if calibrate_on_scored:
        return replace(data, calibration=data.head(CALIBRATION_SAMPLES).frames)
    return data
