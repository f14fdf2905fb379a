"""Array files as data sources: an .npz (stored members memory-mapped, compressed ones streamed) or a directory
of .npy files (x.npy, y.npy, calibration.npy, each memory-mapped)."""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from snncompile import validate
from snncompile.errors import error
from snncompile.verification.source import ArraySource

LOADED_MAX = 1 << 30
"""Bytes of a compressed `x` of frames [T, N, ...] read whole in its stored dtype (it cannot be streamed by sample)."""
NPY_DIR_FILES = ("x.npy", "y.npy", "calibration.npy")


@dataclass
class Streamed:
    """A compressed (deflated) .npz member of C-ordered rows [N, ...], read forward row block by row block, so
    that only one block is held; slicing must go forward, as ArraySource reads it."""

    path: Path
    member: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    _file: IO[bytes] | None = None
    _row: int = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        if self._file is None or start < self._row:
            self._open()
        assert self._file is not None
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        if start > self._row:
            self._file.read((start - self._row) * row_bytes)
        data = self._file.read((stop - start) * row_bytes)
        self._row = stop
        return np.frombuffer(data, self.dtype).reshape(stop - start, *self.shape[1:])

    def _open(self) -> None:
        if self._file is not None:
            self._file.close()
        with zipfile.ZipFile(self.path) as archive:  # the member stays readable after the archive is closed
            self._file = archive.open(self.member)
        _header(self._file)
        self._row = 0


def _header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def _member(path: Path, archive: zipfile.ZipFile, name: str, input_shape: tuple[int, ...]) -> Any:
    """The array `name` of the archive: an np.memmap of a stored member; of a compressed one, a Streamed reader
    when it is `x` holding images [N, *input_shape], else the array read whole in its stored dtype (`x`: up to
    LOADED_MAX bytes, SNC918 beyond)."""
    info = archive.getinfo(f"{name}.npy")
    with archive.open(info) as f:
        shape, fortran, dtype = _header(f)
        header_bytes = f.tell()
    if dtype.hasobject:
        raise error("SNC902", f"{path.name}: `{name}` holds Python objects ({dtype}), not a numeric array",
                    hint="save numeric arrays (numpy.savez without dtype=object)")
    if info.compress_type == zipfile.ZIP_STORED and int(np.prod(shape)) > 0:
        with path.open("rb") as raw:
            raw.seek(info.header_offset)
            name_len, extra_len = struct.unpack("<HH", raw.read(30)[26:30])
        offset = info.header_offset + 30 + name_len + extra_len + header_bytes
        return np.memmap(path, dtype, "r", offset=offset, shape=tuple(shape), order="F" if fortran else "C")
    if name == "x" and not fortran and tuple(shape[1:]) == input_shape and int(np.prod(shape)) > 0:
        return Streamed(path, info.filename, tuple(shape), dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if name == "x" and nbytes > LOADED_MAX:
        raise error("SNC918", f"{path.name}: `x` is a compressed array of frames {list(shape)} "
                    f"({nbytes / 2**30:.1f} GiB): it can be neither memory-mapped nor streamed by sample",
                    hint="save it uncompressed (numpy.savez, not savez_compressed) to have it memory-mapped, or "
                         "save images [N, ...]")
    with archive.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def open_npz(path: Path, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Every array of an .npz, mapped, streamed or (small, compressed) read in its stored dtype; never
    converted to float64 as a whole. SNC902 when the file is no readable .npz."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
            return {n: _member(path, archive, n, input_shape) for n in names}
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, KeyError) as exc:
        raise error("SNC902", f"cannot read {path} as an .npz archive: {type(exc).__name__}: {exc}",
                    hint="write it with numpy.savez(path, x=..., y=...) from numeric arrays") from None


def npy_dir(path: Path) -> dict[str, Any]:
    """x.npy (required), y.npy and calibration.npy of a directory, memory-mapped (SNC910 without x.npy)."""
    if not (path / "x.npy").is_file():
        found = sorted(p.name for p in path.iterdir())[:8]
        raise error("SNC910", f"the data directory {path} has no x.npy (found: {', '.join(found) or 'nothing'})",
                    hint="a data directory holds x.npy (images [N, ...] or frames [T, N, ...]), optionally y.npy "
                         "(labels [N]) and calibration.npy")
    arrays = {}
    for name in NPY_DIR_FILES:
        if (path / name).is_file():
            try:
                arrays[name.removesuffix(".npy")] = np.load(path / name, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise error("SNC902", f"cannot read {path / name} as a .npy array: {exc}",
                            hint="write it with numpy.save(path, array) from a numeric array") from None
    return arrays


def array_source(kind: str, path: Path, arrays: dict[str, Any], input_shape: tuple[int, ...], timesteps: int,
                 classes: int | None) -> tuple[ArraySource, Any]:
    """The source for arrays x, y (and the raw calibration array, or None), checked up front: x numeric with
    the model's per-sample shape, at least one sample; y integer labels in the model's classes (SNC902)."""
    x = arrays["x"]
    label = f"{path.name}: x"
    if x.dtype.kind not in "biuf":
        validate.numeric_array(np.zeros(1, x.dtype), label, "SNC902")
    shape = tuple(x.shape)
    if len(shape) >= 1 and shape[1:] == input_shape:
        frames, n = False, shape[0]
    elif len(shape) >= 2 and shape[2:] == input_shape and shape[0] == timesteps:
        frames, n = True, shape[1]
    else:
        dims = ", ".join(map(str, input_shape))
        raise error("SNC902", f"{path}: `x` has shape {list(shape)}; expected images [N, {dims}] or frames "
                    f"[{timesteps}, N, {dims}]", hint="images are direct-encoded (repeated over the T timesteps); "
                                                      "N >= 1")
    if n == 0:
        validate.numeric_array(np.zeros((0,)), label, "SNC902")
    y = arrays.get("y")
    if y is not None:
        y = validate.labels(np.asarray(y), n, classes, f"{path.name}: y", "SNC902")
    source = ArraySource(kind, path.name, n, path=str(path), x=x, y=y, frames=frames,
                         details={"storage": _storage(x)})
    return source, arrays.get("calibration")


def _storage(x: Any) -> str:
    if isinstance(x, np.memmap):
        return "memory-mapped"
    if isinstance(x, Streamed):
        return "streamed (compressed member, decompressed batch by batch)"
    return "read whole (compressed frames)"


def materialize(array: Any) -> np.ndarray:
    """A (small) member read whole, e.g. the calibration array."""
    if isinstance(array, Streamed):
        return array[0:len(array)]
    return np.asarray(array)
