"""Verification inputs: the digits test split, a user .npz file, or random frames, as [T, N, ...] arrays."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncompile import validate
from snncompile.errors import error

CALIBRATION_SAMPLES = 256
"""Training samples given to the target's calibration (the shipped Loihi accuracy test uses the same)."""


@dataclass(frozen=True)
class VerifyData:
    """Frames [T, N, *input_shape] (float64), labels [N] or None, calibration frames [T, M, ...] or None."""

    name: str
    frames: np.ndarray
    labels: np.ndarray | None
    calibration: np.ndarray | None

    @property
    def samples(self) -> int:
        return int(self.frames.shape[1])

    def head(self, n: int | None) -> VerifyData:
        """The first n samples (all when n is None)."""
        if n is None or n >= self.samples:
            return self
        labels = None if self.labels is None else self.labels[:n]
        return VerifyData(self.name, self.frames[:, :n], labels, self.calibration)


def encode(images: np.ndarray, timesteps: int) -> np.ndarray:
    """Direct encoding: [N, ...] images presented unchanged at each of T steps, as float64 [T, N, ...]."""
    return np.broadcast_to(np.asarray(images, np.float64), (timesteps, *np.shape(images))).copy()


def _frames(array: np.ndarray, input_shape: tuple[int, ...], timesteps: int, what: str, source: str) -> np.ndarray:
    shape = tuple(array.shape)
    if shape[1:] == input_shape and shape[0] >= 1:
        return encode(array, timesteps)
    if shape[2:] == input_shape and shape[0] == timesteps:
        return np.asarray(array, np.float64)
    raise error("SNC902", f"{source}: `{what}` has shape {list(shape)}; expected images [N, "
                f"{', '.join(map(str, input_shape))}] or frames [{timesteps}, N, {', '.join(map(str, input_shape))}]",
                hint="images are direct-encoded (repeated over the T timesteps); N >= 1")


def load_npz(path: Path, input_shape: tuple[int, ...], timesteps: int, classes: int | None = None,
             calibrate_on_scored: bool = False) -> VerifyData:
    """An .npz with `x` (images [N, ...] or frames [T, N, ...], N >= 1, finite numbers), optional `y` integer
    labels [N] in 0..classes-1 and `calibration`. Every problem is SNC902 naming the array (and first bad index).
    Without `calibration` the target is not calibrated (the scored samples are calibration data only when
    `calibrate_on_scored`: a score on data the compile was tuned on flatters it)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, AttributeError, zipfile.BadZipFile) as exc:
        raise error("SNC902", f"cannot read {path} as an .npz archive: {type(exc).__name__}: {exc}",
                    hint="write it with numpy.savez(path, x=..., y=...) from numeric arrays") from None
    if "x" not in arrays:
        raise error("SNC902", f"{path} has no array `x` (found: {', '.join(sorted(arrays)) or 'none'})",
                    hint="numpy.savez(path, x=images, y=labels)")
    x = validate.numeric_array(arrays["x"], f"{path.name}: x", "SNC902")
    frames = _frames(x, input_shape, timesteps, "x", str(path))
    labels = arrays.get("y")
    if labels is not None:
        labels = validate.labels(labels, frames.shape[1], classes, f"{path.name}: y", "SNC902")
    cal = arrays.get("calibration")
    if cal is not None:
        cal = validate.numeric_array(cal, f"{path.name}: calibration", "SNC902")
    if cal is None:
        calibration = frames if calibrate_on_scored else None
    else:
        calibration = _frames(cal, input_shape, timesteps, "calibration", str(path))
    return VerifyData(path.name, frames, None if labels is None else labels.astype(np.int64), calibration)


def load_digits(timesteps: int) -> VerifyData:
    """The test split of scikit-learn's digits (the split every example was trained on); calibration from
    the first training samples."""
    from snncompile.datasets import digits_split

    x_tr, _, x_te, y_te = digits_split()
    return VerifyData("digits", encode(x_te, timesteps), y_te, encode(x_tr[:CALIBRATION_SAMPLES], timesteps))


def random_data(input_shape: tuple[int, ...], timesteps: int, samples: int = 32, seed: int = 0,
                calibrate_on_scored: bool = False) -> VerifyData:
    """Unlabelled images uniform in [0, 1), direct-encoded; calibration on other random images (the same ones
    when `calibrate_on_scored`)."""
    rng = np.random.default_rng(seed)
    images = rng.random((samples, *input_shape))
    other = images if calibrate_on_scored else rng.random((samples, *input_shape))
    return VerifyData("random", encode(images, timesteps), None, encode(other, timesteps))


def load_data(spec: str | os.PathLike[str] | None, input_shape: tuple[int, ...], timesteps: int,
              classes: int | None = None, calibrate_on_scored: bool = False) -> VerifyData:
    """`digits`, a path to an .npz file, or None / `random` for unlabelled random images. `classes`: the number
    of model outputs, which labels must index. The calibration data never holds the scored samples unless
    `calibrate_on_scored` (digits: the training split)."""
    if spec is None or str(spec) == "random":
        return random_data(input_shape, timesteps, calibrate_on_scored=calibrate_on_scored)
    if str(spec) == "digits":
        if input_shape != (1, 8, 8):
            raise error("SNC902", f"the digits data is [1, 8, 8] images; the model takes {list(input_shape)}",
                        hint="pass --data FILE.npz with inputs of the model's shape")
        return load_digits(timesteps)
    path = Path(spec)
    if not path.is_file():
        raise error("SNC902", f"verification data {spec!r} is neither `digits`, `random` nor an existing .npz file",
                    hint="pass --data digits, --data random, or the path of an .npz with x (and y)")
    return load_npz(path, input_shape, timesteps, classes, calibrate_on_scored)
