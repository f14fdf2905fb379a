"""Data sources for verification: anything that yields (x, y) batches, turned into float64 frames chunk by chunk."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snncompile import validate
from snncompile.errors import error

SOURCE_BATCH = 64
"""Samples a source reads per batch (memory-mapped files, Datasets): the runner re-chunks them by memory."""


@dataclass
class DataSource:
    """Batches of (x, y): x images [B, *S] or frames [T, B, *S] (`layout` "tb"), or batch-first frames
    [B, T, *S] ("bt", as torch's DataLoader collates); y integer labels [B] or None. `length` is the number of
    samples when known; kind, path and transform describe the source in the report."""

    kind: str
    name: str
    length: int | None = None
    layout: str = "tb"
    path: str | None = None
    transform: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def batches(self) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "path": self.path, "transform": self.transform,
                "samples": self.length, "batch_layout": self.layout, **self.details}


@dataclass
class ArraySource(DataSource):
    """Arrays in memory or memory-mapped (np.memmap): x images [N, *S] or frames [T, N, *S], y [N] or None.
    Read SOURCE_BATCH samples at a time, so a mapped file is never loaded whole."""

    x: Any = None
    y: np.ndarray | None = None
    frames: bool = False

    def batches(self) -> Iterator[tuple[Any, Any]]:
        n = self.length or 0
        for start in range(0, n, SOURCE_BATCH):
            stop = min(start + SOURCE_BATCH, n)
            x = self.x[:, start:stop] if self.frames else self.x[start:stop]
            yield x, None if self.y is None else self.y[start:stop]


@dataclass
class DatasetSource(DataSource):
    """A map-style dataset (torch Dataset, tonic dataset): item i is (x, y) or x, with x one sample [*S] or
    [T, *S]; SOURCE_BATCH items are stacked into one batch [B, *S] or [B, T, *S] (`layout` "bt")."""

    dataset: Any = None
    layout: str = "bt"

    def batches(self) -> Iterator[tuple[Any, Any]]:
        n = self.length or 0
        for start in range(0, n, SOURCE_BATCH):
            xs, ys = [], []
            for i in range(start, min(start + SOURCE_BATCH, n)):
                item = self.dataset[i]
                x, y = split_item(item, f"{self.name}[{i}]")
                xs.append(as_numeric(x, f"{self.name}[{i}]"))
                ys.append(y)
            labels = None if any(y is None for y in ys) else np.asarray([as_numeric(y, "label") for y in ys])
            if labels is None and any(y is not None for y in ys):
                raise error("SNC912", f"{self.name}: items {start}..{start + len(ys) - 1} mix labelled and unlabelled "
                            "samples", hint="every item is (x, y), or every item is x alone")
            yield np.stack(xs), labels


@dataclass
class IterableSource(DataSource):
    """Any iterable of batches (x, y), (x, None) or x alone: a DataLoader (batch-first, `layout` "bt"), a list,
    a generator. A generator can be read once only (SNC917 on a second pass)."""

    iterable: Iterable[Any] = ()

    def batches(self) -> Iterator[tuple[Any, Any]]:
        one_shot = iter(self.iterable) is self.iterable
        if one_shot and _was_read(self.iterable):
            raise error("SNC917", f"{self.name} is an iterator that was already read (calibration or an earlier "
                        "verify consumed it)", hint="pass a list, a Dataset or a DataLoader, which can be iterated "
                        "again, or a function (module:function) that builds a new iterator")
        for k, item in enumerate(self.iterable):
            yield split_item(item, f"{self.name}: batch {k}")


_READ: weakref.WeakSet[Any] = weakref.WeakSet()


def _was_read(iterator: Any) -> bool:
    """True when this iterator was read before (by any source: each verify of a sweep wraps it anew); records it."""
    if iterator in _READ:
        return True
    try:
        _READ.add(iterator)
    except TypeError:  # an iterator without weak references is not tracked
        pass
    return False


def split_item(item: Any, where: str) -> tuple[Any, Any]:
    """(x, y) from an item (x, y), [x, y], (x,) or x alone (unlabelled)."""
    if isinstance(item, dict):
        raise error("SNC911", f"{where} is a dict with keys {sorted(map(str, item))}; expected (x, y) or x",
                    hint="return (inputs, labels) tuples from the dataset or loader")
    if isinstance(item, (tuple, list)):
        if len(item) == 2:
            return item[0], item[1]
        if len(item) == 1:
            return item[0], None
        raise error("SNC911", f"{where} is a {type(item).__name__} of {len(item)} values; expected (x, y) or x",
                    hint="return (inputs, labels) tuples from the dataset or loader")
    return item, None


def as_numeric(value: Any, where: str) -> np.ndarray:
    """A torch tensor or array-like as a numpy array of real numbers (SNC911 otherwise)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise error("SNC911", f"{where} cannot be read as an array: {exc}",
                    hint="yield numpy arrays or torch tensors") from None
    if array.dtype.kind not in "biuf":
        raise error("SNC911", f"{where} has dtype {array.dtype}; a real numeric array is needed",
                    hint="convert it, e.g. numpy.asarray(x, dtype=numpy.float32)")
    return array


def first_non_finite(x: np.ndarray) -> tuple[int, ...] | None:
    if x.dtype.kind != "f":
        return None
    bad = ~np.isfinite(x)
    return tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None


def encode(images: np.ndarray, timesteps: int) -> np.ndarray:
    """Direct encoding: [N, ...] images presented unchanged at each of T steps, as float64 [T, N, ...]."""
    return np.broadcast_to(np.asarray(images, np.float64), (timesteps, *np.shape(images))).copy()


@dataclass
class Framer:
    """Turns a source's raw batches into float64 frames [T, b, *S] with int64 labels, checking each batch
    (shape SNC911, finite values, labels SNC912, or `code` for files validated as a whole up front)."""

    source: DataSource
    input_shape: tuple[int, ...]
    timesteps: int
    classes: int | None
    code: str = "SNC911"
    label_code: str = "SNC912"
    labelled: bool | None = None
    seen: int = 0

    def expected(self) -> str:
        s = ", ".join(map(str, self.input_shape))
        frames = f"[B, {self.timesteps}, {s}]" if self.source.layout == "bt" else f"[{self.timesteps}, B, {s}]"
        return f"images [B, {s}] or frames {frames}"

    def frames(self, raw: Any, k: int) -> np.ndarray:
        x = as_numeric(raw, f"{self.source.name}: batch {k} x")
        shape, rank = tuple(x.shape), len(self.input_shape)
        steps = self.timesteps
        frames = x.ndim == rank + 2 and shape[2:] == self.input_shape
        # the source's layout decides; the other one is taken only when its time axis alone matches T
        batch_first = frames and shape[1] == steps and (self.source.layout == "bt" or shape[0] != steps)
        if x.ndim == rank + 1 and shape[1:] == self.input_shape:
            out = encode(x, steps)
        elif batch_first:
            out = np.ascontiguousarray(np.swapaxes(x, 0, 1), dtype=np.float64)
        elif frames and shape[0] == steps:
            out = np.ascontiguousarray(x, dtype=np.float64)
        else:
            raise error(self.code, f"{self.source.name}: batch {k} x has shape {list(shape)}; the model takes "
                        f"{self.expected()}", hint="images are direct-encoded (repeated over the T timesteps); "
                        "frames must have the model's T and per-sample shape")
        bad = first_non_finite(out)
        if bad is not None:
            t, b, *rest = bad
            index = [self.seen + b, *rest] if x.ndim == rank + 1 else \
                [self.seen + b, t, *rest] if batch_first else [t, self.seen + b, *rest]
            raise error(self.code, f"`{self.source.name}: x` holds non-finite values (NaN or ±inf); the first at "
                        f"index {index} is {out[bad]}",
                        hint="clean the data (numpy.nan_to_num, or drop those samples) before running")
        return out

    def labels(self, raw: Any, n: int, k: int) -> np.ndarray | None:
        has = raw is not None
        if self.labelled is not None and has != self.labelled:
            raise error(self.label_code, f"{self.source.name}: batch {k} {'has' if has else 'has no'} labels, "
                        f"earlier batches {'had none' if has else 'had them'}",
                        hint="give labels y for every batch, or for none")
        self.labelled = has
        if not has:
            return None
        y = as_numeric(raw, f"{self.source.name}: batch {k} y")
        return validate.labels(y, n, self.classes, f"{self.source.name}: y (batch {k})", self.label_code)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        for k, (x, y) in enumerate(self.source.batches()):
            frames = self.frames(x, k)
            labels = self.labels(y, frames.shape[1], k)
            self.seen += frames.shape[1]
            yield frames, labels


def rechunk(batches: Iterable[tuple[np.ndarray, np.ndarray | None]], size: int, limit: int | None = None
            ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Frames [T, b, ...] and labels regrouped into chunks of exactly `size` samples (the last may be smaller),
    stopping after `limit` samples: holds at most one chunk plus one source batch."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray | None] = []
    held = total = 0
    for x, y in batches:
        if limit is not None and total + x.shape[1] > limit:
            x, y = x[:, :limit - total], None if y is None else y[:limit - total]
        xs.append(x)
        ys.append(y)
        held += x.shape[1]
        total += x.shape[1]
        while held >= size:
            yield _take(xs, ys, size)
            held -= size
        if limit is not None and total >= limit:
            break
    if held:
        yield _take(xs, ys, held)


def _take(xs: list[np.ndarray], ys: list[np.ndarray | None], n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Remove the first n samples from the pending pieces and return them joined."""
    parts_x, parts_y, got = [], [], 0
    while got < n:
        x, y = xs[0], ys[0]
        take = min(n - got, x.shape[1])
        parts_x.append(x[:, :take])
        parts_y.append(None if y is None else y[:take])
        if take == x.shape[1]:
            xs.pop(0)
            ys.pop(0)
        else:
            xs[0], ys[0] = x[:, take:], None if y is None else y[take:]
        got += take
    x = parts_x[0] if len(parts_x) == 1 else np.concatenate(parts_x, axis=1)
    if any(y is None for y in parts_y):
        return np.ascontiguousarray(x), None
    y = parts_y[0] if len(parts_y) == 1 else np.concatenate(parts_y)  # type: ignore[arg-type]
    return np.ascontiguousarray(x), y
