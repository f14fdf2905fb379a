"""verify's data sources: .npz (memory-mapped or streamed), .npy directories, module:function, Python objects."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import snncompile
from snncompile.cli import cli
from snncompile.errors import CompileError
from snncompile.verification import source_files, verify
from snncompile.verification.data import load_data
from snncompile.verification.source import encode

SHAPE = (1, 8, 8)


def _codes(exc: pytest.ExceptionInfo[CompileError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


def _images(n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE)).astype(np.float32), np.arange(n) % 10


def test_uncompressed_npz_is_memory_mapped_and_read_in_chunks(tmp_path: Path) -> None:
    x, y = _images(150)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load_data(tmp_path / "d.npz", SHAPE, 3, 10)
    assert isinstance(data.source.x, np.memmap) and data.describe()["storage"] == "memory-mapped"
    chunks = list(data.chunks(40))
    assert [c[0].shape[1] for c in chunks] == [40, 40, 40, 30]
    assert all(c[0].dtype == np.float64 for c in chunks)
    assert np.array_equal(np.concatenate([c[0] for c in chunks], axis=1), encode(x, 3))
    assert np.array_equal(np.concatenate([c[1] for c in chunks]), y)


def test_compressed_npz_images_stream_and_frames_are_read_in_their_dtype(tmp_path: Path) -> None:
    x, y = _images(70)
    np.savez_compressed(tmp_path / "c.npz", x=x, y=y)
    data = load_data(tmp_path / "c.npz", SHAPE, 2, 10)
    assert isinstance(data.source.x, source_files.Streamed)
    assert np.array_equal(data.frames, encode(x, 2)) and np.array_equal(data.labels, y)
    assert np.array_equal(data.frames, encode(x, 2))  # a second pass reopens the member
    frames = np.random.default_rng(1).integers(0, 2, (2, 5, *SHAPE)).astype(np.uint8)
    np.savez_compressed(tmp_path / "f.npz", x=frames)
    loaded = load_data(tmp_path / "f.npz", SHAPE, 2)
    assert loaded.source.x.dtype == np.uint8 and np.array_equal(loaded.frames, frames)


def test_compressed_frames_beyond_the_limit_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.savez_compressed(tmp_path / "f.npz", x=np.zeros((2, 5, *SHAPE)))
    monkeypatch.setattr(source_files, "LOADED_MAX", 100)
    with pytest.raises(CompileError) as exc:
        load_data(tmp_path / "f.npz", SHAPE, 2)
    assert _codes(exc) == ["SNC918"] and "numpy.savez" in exc.value.diagnostics[0].hint


def test_npz_stored_member_offsets_survive_zip64_extras(tmp_path: Path) -> None:
    """Members written by zipfile with a force_zip64 local header (an extra field) are mapped at the right byte."""
    x, y = _images(6)
    with zipfile.ZipFile(tmp_path / "z.npz", "w", zipfile.ZIP_STORED) as archive:
        for name, array in (("x", x), ("y", y)):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, array)
    data = load_data(tmp_path / "z.npz", SHAPE, 2, 10)
    assert isinstance(data.source.x, np.memmap) and np.array_equal(data.frames, encode(x, 2))


def test_npy_directory(tmp_path: Path) -> None:
    x, y = _images(9)
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "x.npy", x)
    np.save(tmp_path / "d" / "y.npy", y)
    np.save(tmp_path / "d" / "calibration.npy", x[:3])
    data = load_data(tmp_path / "d", SHAPE, 2, 10)
    assert data.source.kind == "npy-dir" and isinstance(data.source.x, np.memmap)
    assert np.array_equal(data.frames, encode(x, 2)) and np.array_equal(data.labels, y)
    assert data.calibration is not None and data.calibration.shape == (2, 3, *SHAPE)
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "empty" / "inputs.npy", x)
    with pytest.raises(CompileError) as exc:
        load_data(tmp_path / "empty", SHAPE, 2)
    assert _codes(exc) == ["SNC910"] and "inputs.npy" in exc.value.diagnostics[0].message


def test_bad_specs_are_snc910(tmp_path: Path) -> None:
    for spec in (str(tmp_path / "missing.npz"), "digitz", str(tmp_path / "no" / "dir")):
        with pytest.raises(CompileError) as exc:
            load_data(spec, SHAPE, 2)
        assert _codes(exc) == ["SNC910"], spec


LOADERS = '''
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

rng = np.random.default_rng(0)
X = torch.tensor(rng.random((20, 1, 8, 8)), dtype=torch.float32)
Y = torch.arange(20) % 10


def loader():
    return DataLoader(TensorDataset(X, Y), batch_size=7)


def dataset():
    return TensorDataset(X, Y)


class Frames(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.full((3, 1, 8, 8), i / 5.0), i


def frames():
    return Frames()


def wrong_shape():
    return DataLoader(TensorDataset(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long)), batch_size=2)


def some_labels():
    return [(X[:4], Y[:4]), (X[4:8], None)]


def number():
    return 3


def broken():
    raise RuntimeError("no data today")


def pairs():
    return [(X[:3], Y[:3]), {"x": X[3:6]}]
'''


@pytest.fixture
def loaders(tmp_path: Path) -> Path:
    path = tmp_path / "loaders.py"
    path.write_text(LOADERS)
    return path


def test_module_function_dataloader_dataset_and_frames(loaders: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((20, 1, 8, 8)).astype(np.float32)
    via_loader = load_data(f"{loaders}:loader", SHAPE, 3, 10)
    assert via_loader.source.kind == "DataLoader" and via_loader.samples == 20
    assert np.array_equal(via_loader.frames, encode(x, 3)) and via_loader.labels.tolist() == [i % 10 for i in
                                                                                             range(20)]
    monkeypatch.syspath_prepend(str(loaders.parent))
    via_module = load_data("loaders:dataset", SHAPE, 3, 10)
    assert via_module.source.kind == "Dataset" and np.array_equal(via_module.frames, encode(x, 3))
    frames = load_data("loaders:frames", SHAPE, 3, 10)  # items [T, ...] stacked batch-first, read time-major
    got = frames.frames
    assert got.shape == (3, 5, 1, 8, 8) and np.allclose(got[:, 4], 0.8) and frames.labels.tolist() == list(range(5))


@pytest.mark.parametrize(("function", "code", "text"), [
    ("wrong_shape", "SNC911", "[2, 3, 8, 8]"),
    ("some_labels", "SNC912", "batch 1 has no labels"),
    ("number", "SNC913", "is a int"),
    ("broken", "SNC913", "no data today"),
    ("missing", "SNC913", "missing"),
    ("pairs", "SNC911", "dict"),
])
def test_module_function_errors(loaders: Path, function: str, code: str, text: str) -> None:
    with pytest.raises(CompileError) as exc:
        data = load_data(f"{loaders}:{function}", SHAPE, 3, 10)
        list(data.chunks(8))
    assert _codes(exc) == [code] and text in exc.value.diagnostics[0].message
    assert exc.value.diagnostics[0].hint


def test_labels_outside_the_classes_are_snc912() -> None:
    x, _ = _images(4)
    data = load_data([(x, np.array([0, 1, 2, 12]))], SHAPE, 2, 10)
    with pytest.raises(CompileError) as exc:
        list(data.chunks(4))
    assert _codes(exc) == ["SNC912"] and "12" in exc.value.diagnostics[0].message


def test_non_finite_batch_names_the_sample() -> None:
    x, y = _images(6)
    x[4, 0, 2, 3] = np.nan
    data = load_data([(x[:3], y[:3]), (x[3:], y[3:])], SHAPE, 2, 10)
    with pytest.raises(CompileError) as exc:
        list(data.chunks(6))
    assert _codes(exc) == ["SNC911"] and "[4, 0, 2, 3]" in exc.value.diagnostics[0].message


def test_a_generator_is_read_once(small_model: nn.Module) -> None:
    x, y = _images(8)
    batches = ((x[i:i + 4], y[i:i + 4]) for i in (0, 4))
    with pytest.raises(CompileError) as exc:  # calibration on the scored samples reads it first
        verify(small_model, "sim", batches, calibrate_on_scored=True, lava=False)
    assert _codes(exc) == ["SNC917"]


def test_python_api_takes_arrays_batches_datasets_and_loaders(small_model: nn.Module) -> None:
    x, y = _images(12)
    reference = verify(small_model, "sim", (x, y), lava=False)
    assert reference.ok and reference.stats.samples == 12
    want = reference.accuracy("pytorch")
    tensors = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    for data in ([(x[:5], y[:5]), (x[5:], y[5:])], ((x[i:i + 3], y[i:i + 3]) for i in range(0, 12, 3)),
                 tensors, DataLoader(tensors, batch_size=5)):
        report = snncompile.verify(small_model, "sim", data, lava=False, batch=4)  # the package's API
        assert report.ok and report.stats.samples == 12 and report.accuracy("pytorch") == want, type(data)
        assert report.accuracy(report.final) == reference.accuracy(reference.final)
    frames = encode(x, 4)  # [T, N, ...] arrays are frames
    assert verify(small_model, "sim", (frames, y), lava=False).accuracy("pytorch") == want
    unlabelled = verify(small_model, "sim", x, lava=False, samples=5)
    assert unlabelled.stats.samples == 5 and unlabelled.accuracy("pytorch") is None


def test_cli_verify_on_a_npy_directory_and_a_module_function(small_model: nn.Module, loaders: Path,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    torch.save(small_model.float(), path)
    rng = np.random.default_rng(0)
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "x.npy", rng.random((20, 1, 8, 8)).astype(np.float32))
    np.save(tmp_path / "d" / "y.npy", np.arange(20) % 10)
    results = {}
    for name, spec in (("dir", str(tmp_path / "d")), ("loader", f"{loaders}:loader")):
        res = CliRunner().invoke(cli, ["verify", str(path), "--target", "sim", "--data", spec, "--json",
                                       str(tmp_path / f"{name}.json")])
        assert res.exit_code == 0, res.output
        results[name] = json.loads((tmp_path / f"{name}.json").read_text())
        assert f"data: {results[name]['data']['source']['kind']}" in res.output
    assert results["dir"]["data"]["source"]["storage"] == "memory-mapped"
    assert results["loader"]["data"]["source"]["kind"] == "DataLoader"
    assert results["dir"]["accuracy"] == results["loader"]["accuracy"]
    bad = CliRunner().invoke(cli, ["verify", str(path), "--target", "sim", "--data", f"{loaders}:number"])
    assert bad.exit_code == 1 and "error[SNC913]" in bad.output and "Traceback" not in bad.output


DIGITS = '''
import torch
from torch.utils.data import DataLoader, TensorDataset
from snncompile.datasets import digits_split


def test_loader():
    _, _, x, y = digits_split()
    return DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=50)
'''


def test_shipped_example_verifies_the_same_on_a_dataloader_as_on_digits(example, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    model = example("mpbn_cnn")
    (tmp_path / "digits_loader.py").write_text(DIGITS)
    reports = {}
    for name, spec in (("digits", "digits"), ("loader", f"{tmp_path / 'digits_loader.py'}:test_loader")):
        res = CliRunner().invoke(cli, ["verify", str(model), "--target", "sim", "--data", spec, "--samples", "120",
                                       "--json", str(tmp_path / f"{name}.json")])
        assert res.exit_code == 0, res.output
        reports[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert reports["loader"]["data"]["samples"] == 120
    assert reports["digits"]["accuracy"] == reports["loader"]["accuracy"]
    assert reports["digits"]["pairs"] == reports["loader"]["pairs"]


def test_loihi_calibration_takes_any_data_spec(small_model: nn.Module, loaders: Path, tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    torch.save(small_model.float(), path)
    x, _ = _images(20)
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "x.npy", x)
    digests = []
    for spec in (str(tmp_path / "d"), f"{loaders}:loader"):
        out = tmp_path / f"out{len(digests)}"
        res = CliRunner().invoke(cli, [str(path), "-t", "loihi", "--loihi-calibration", spec, "-o", str(out)])
        assert res.exit_code == 0, res.output
        digests.append((out / "network.net").read_bytes())
    rng = np.random.default_rng(0)  # loaders.py draws the same 20 images with the same generator
    assert np.array_equal(rng.random((20, 1, 8, 8)).astype(np.float32), x)
    assert digests[0] == digests[1]


class _CountingArray:
    """An array-like that records every slice read from it (what verification holds of the source at once)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.dtype, self.ndim, self.reads = array, array.shape, array.dtype, array.ndim, []

    def __getitem__(self, rows: slice) -> np.ndarray:
        part = self.array[rows]
        self.reads.append(len(part))
        return part


def test_verify_reads_the_source_a_batch_at_a_time(small_model: nn.Module) -> None:
    from snncompile.verification.source import SOURCE_BATCH, ArraySource

    x, y = _images(300)
    counting = _CountingArray(x)
    report = verify(small_model, "sim", ArraySource("arrays", "counted", 300, x=counting, y=y), lava=False, batch=50)
    assert report.ok and report.stats.samples == 300
    assert sum(counting.reads) == 300 and max(counting.reads) <= SOURCE_BATCH  # each sample read once, in batches
    assert report.accuracy("pytorch") == verify(small_model, "sim", (x, y), lava=False).accuracy("pytorch")


def test_sweep_rereads_a_loader_but_not_a_generator(small_model: nn.Module, loaders: Path) -> None:
    from snncompile.verification.sweep import sweep

    result = sweep(small_model, "loihi", [6, 8], f"{loaders}:loader", samples=6)
    assert [r.bits for r in result.rows] == [6, 8] and result.samples == 6
    x, y = _images(6)
    with pytest.raises(CompileError) as exc:
        sweep(small_model, "loihi", [6, 8], ((x[i:i + 3], y[i:i + 3]) for i in (0, 3)))
    assert _codes(exc) == ["SNC917"]
