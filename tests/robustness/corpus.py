"""The bad-input corpus: files generated at test time from one small model, and the cases that use them."""

from __future__ import annotations

import io
import os
import pickle
import sys
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner
from robustness import corpus_models as cm
from torch import nn

import snncompile.nn as snn
from snncompile.cli import cli


@dataclass(frozen=True)
class Corpus:
    """Paths of the generated files (read-only for the cases) and a compiled sim artifact."""

    root: Path

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    @property
    def model(self) -> str:
        return str(self.root / "small.pt")

    @property
    def artifact(self) -> Path:
        return self.root / "artifact"

    @property
    def marker(self) -> Path:
        return self.root / "PAYLOAD_RAN"


def _save_model(path: Path, model: nn.Module) -> None:
    torch.save(model, path)


def _variant(edit: Callable[[nn.Sequential], None]) -> nn.Sequential:
    model = cm.small_model()
    edit(model)
    return model


def _set_weight(value: float) -> Callable[[nn.Sequential], None]:
    def edit(m: nn.Sequential) -> None:
        with torch.no_grad():
            m[0][0].weight[0, 0, 1, 1] = value  # type: ignore[index]
    return edit


def _npy_with_header(path: Path, header_len: int) -> None:
    """A .npy whose header claims `header_len` bytes (numpy refuses headers over 10 kB as unsafe)."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }".ljust(header_len - 1) + "\n"
    path.write_bytes(b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header.encode() + b"\0" * 8)


def build(root: Path) -> Corpus:
    """Write every file of the corpus under `root` (about 60 small files, one compile)."""
    c = Corpus(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    good = cm.small_model()
    _save_model(root / "small.pt", good)
    raw = (root / "small.pt").read_bytes()
    # damaged checkpoints
    (root / "empty.pt").write_bytes(b"")
    (root / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    (root / "random.pt").write_bytes(rng.bytes(4096))
    (root / "text.pt").write_text("this is not a checkpoint\n")
    with zipfile.ZipFile(root / "zipjunk.pt", "w") as z:
        z.writestr("archive/data.pkl", b"garbage")
    torch.save(good.state_dict(), root / "state_dict.pt")
    torch.save(torch.zeros(3), root / "tensor.pt")
    torch.save([good], root / "list.pt")
    (root / "model_dir.pt").mkdir()
    # hostile pickles: torch's zip format and a raw pickle
    torch.save(cm.Payload(str(c.marker)), root / "payload.pt")
    (root / "payload_raw.pt").write_bytes(pickle.dumps(cm.Payload(str(c.marker))))
    buf = io.BytesIO()
    torch.save({"weights": cm.Payload(str(c.marker))}, buf)
    (root / "payload_nested.pt").write_bytes(buf.getvalue())
    # a checkpoint whose module is not on the Python path any more
    mod_dir = root / "gone"
    mod_dir.mkdir()
    (mod_dir / "vanishing_models.py").write_text(textwrap.dedent("""
        import snncompile.nn as snn
        from torch import nn
        class Vanishing(nn.Sequential):
            pass
    """))
    sys.path.insert(0, str(mod_dir))
    try:
        import vanishing_models  # type: ignore[import-not-found]

        m = vanishing_models.Vanishing(snn.TimeDistributed(nn.Flatten()), snn.LIF())
        m.input_shape, m.timesteps = cm.SHAPE, cm.STEPS
        torch.save(m, root / "vanishing.pt")
    finally:
        sys.path.remove(str(mod_dir))
        sys.modules.pop("vanishing_models", None)
        (mod_dir / "vanishing_models.py").unlink()
    # models that are well-formed files but bad networks
    empty = nn.Sequential()
    empty.input_shape, empty.timesteps = cm.SHAPE, cm.STEPS  # type: ignore[assignment]
    _save_model(root / "empty_seq.pt", empty)
    ident = nn.Sequential(nn.Identity(), nn.Dropout())
    ident.input_shape, ident.timesteps = cm.SHAPE, cm.STEPS  # type: ignore[assignment]
    _save_model(root / "identity.pt", ident)
    for name, attrs in {"t0": {"timesteps": 0}, "tneg": {"timesteps": -3}, "tfloat": {"timesteps": 2.5},
                        "shape_neg": {"input_shape": (1, -6, 6)}, "shape_str": {"input_shape": "1,6,6"},
                        "shape_zero": {"input_shape": (0, 6, 6)}, "shape_float": {"input_shape": (1.0, 6, 6)},
                        "shape_empty": {"input_shape": ()}, "no_shape": {"input_shape": None}}.items():
        m = cm.small_model()
        for k, v in attrs.items():
            setattr(m, k, v)
        if attrs.get("input_shape", 1) is None:
            del m.input_shape
        _save_model(root / f"{name}.pt", m)
    _save_model(root / "nan_weight.pt", _variant(_set_weight(float("nan"))))
    _save_model(root / "inf_weight.pt", _variant(_set_weight(float("inf"))))
    for name, v in {"nan_th": float("nan"), "zero_th": 0.0, "neg_th": -1.0, "inf_th": float("inf")}.items():
        _save_model(root / f"{name}.pt", _variant(lambda m, v=v: setattr(m[1], "v_th", v)))
    zero_w = cm.small_model()
    with torch.no_grad():
        for p in zero_w.parameters():
            p.zero_()
    _save_model(root / "zero_params.pt", zero_w)
    lstm = nn.Sequential(nn.LSTM(6, 4))
    lstm.input_shape, lstm.timesteps = (6,), cm.STEPS  # type: ignore[assignment]
    _save_model(root / "lstm.pt", lstm)
    noneuron = nn.Sequential(snn.TimeDistributed(nn.Flatten()), snn.Readout(36, 3))
    noneuron.input_shape, noneuron.timesteps = cm.SHAPE, cm.STEPS  # type: ignore[assignment]
    _save_model(root / "no_neuron.pt", noneuron)
    _save_model(root / "shape_branch.pt", cm.with_block(cm.ShapeBranch()))
    _save_model(root / "value_branch.pt", cm.with_block(cm.ValueBranch()))
    sig = cm.Sigmoid()
    sig.input_shape, sig.timesteps = (4,), cm.STEPS  # type: ignore[assignment]
    _save_model(root / "sigmoid.pt", sig)
    # factory modules
    (root / "factory_boom.py").write_text("raise ValueError('module exploded at import')\n")
    (root / "factory_syntax.py").write_text("def broken(:\n")
    # ONNX and NIR sources
    _onnx_sources(c)
    (root / "random.onnx").write_bytes(rng.bytes(2048))
    (root / "random.nir").write_bytes(rng.bytes(2048))
    _nir_sources(c)
    # the compiled artifact every case finds in -o, and inputs for simulate
    code = CliRunner().invoke(cli, [c.model, "-o", str(c.artifact), "--no-check"])
    assert code.exit_code == 0, code.output
    _data_files(c, rng)
    return c


def _onnx_sources(c: Corpus) -> None:
    import onnx

    out = c / "onnx_art"
    result = CliRunner().invoke(cli, [c.model, "-t", "onnx", "-o", str(out), "--no-check"])
    assert result.exit_code == 0, result.output
    proto = onnx.load(str(out / "model.onnx"))
    for prop in proto.metadata_props:
        if prop.key == "snncompile":
            prop.value = "{not json"
    onnx.save(proto, str(c / "meta_not_json.onnx"))
    for prop in proto.metadata_props:
        if prop.key == "snncompile":
            prop.value = "[1, 2]"
    onnx.save(proto, str(c / "meta_list.onnx"))


def _nir_sources(c: Corpus) -> None:
    import nir

    io_nodes = {"input": nir.Input(input_type=np.array([3])), "output": nir.Output(output_type=np.array([3]))}
    nir.write(c / "no_edges.nir", nir.NIRGraph(nodes=dict(io_nodes), edges=[]))
    lin = nir.Linear(weight=np.eye(3))
    nir.write(c / "no_output_edge.nir", nir.NIRGraph(nodes={**io_nodes, "fc": lin}, edges=[("input", "fc")]))


def _data_files(c: Corpus, rng: np.random.Generator) -> None:
    x = rng.random((cm.STEPS, 2, *cm.SHAPE))
    np.save(c / "x_ok.npy", x)
    np.save(c / "x_text.npy", np.array(["a", "b"]))
    np.save(c / "x_bytes.npy", np.array([b"a", b"b"]))
    np.save(c / "x_object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(c / "x_complex.npy", x.astype(np.complex128))
    np.save(c / "x_empty.npy", np.zeros((cm.STEPS, 0, *cm.SHAPE)))
    np.save(c / "x_wrong_shape.npy", rng.random((cm.STEPS, 2, 1, 5, 5)))
    bad = x.copy()
    bad[2, 1, 0, 3, 4] = np.nan
    np.save(c / "x_nan.npy", bad)
    bad = x.copy()
    bad[0, 0, 0, 0, 1] = -np.inf
    np.save(c / "x_inf.npy", bad)
    raw = (c / "x_ok.npy").read_bytes()
    (c / "x_truncated.npy").write_bytes(raw[: len(raw) // 3])
    (c / "x_random.npy").write_bytes(rng.bytes(512))
    _npy_with_header(c / "x_huge_header.npy", 200_000)
    np.savez(c / "x_archive.npy.npz", x=x)
    os.replace(c / "x_archive.npy.npz", c / "x_archive.npy")
    # verify data (.npz with x images [N, 1, 6, 6] and y labels)
    imgs = rng.random((6, *cm.SHAPE))
    y = np.array([0, 1, 2, 0, 1, 2])
    np.savez(c / "d_ok.npz", x=imgs, y=y)
    nan_imgs = imgs.copy()
    nan_imgs[4, 0, 2, 2] = np.nan
    np.savez(c / "d_nan.npz", x=nan_imgs, y=y)
    inf_imgs = imgs.copy()
    inf_imgs[1, 0, 0, 0] = np.inf
    np.savez(c / "d_inf.npz", x=inf_imgs, y=y)
    np.savez(c / "d_label_high.npz", x=imgs, y=np.array([0, 1, 2, 3, 1, 2]))
    np.savez(c / "d_label_neg.npz", x=imgs, y=np.array([0, -1, 2, 0, 1, 2]))
    np.savez(c / "d_label_nan.npz", x=imgs, y=np.array([0, 1, np.nan, 0, 1, 2]))
    np.savez(c / "d_label_frac.npz", x=imgs, y=np.array([0, 1.5, 2, 0, 1, 2]))
    np.savez(c / "d_label_len.npz", x=imgs, y=np.array([0, 1, 2]))
    np.savez(c / "d_label_str.npz", x=imgs, y=np.array(["a"] * 6))
    np.savez(c / "d_zero.npz", x=np.zeros((0, *cm.SHAPE)), y=np.zeros(0, np.int64))
    np.savez(c / "d_no_x.npz", images=imgs)
    np.savez(c / "d_shape.npz", x=rng.random((6, 2, 6, 6)))
    np.savez(c / "d_text.npz", x=np.array(["x"] * 6))
    np.savez(c / "d_object.npz", x=np.array([None] * 6, dtype=object), allow_pickle=True)
    (c / "d_random.npz").write_bytes(rng.bytes(1024))
    np.savez(c / "d_cal_nan.npz", x=nan_imgs)
    (c / "not_data.txt").write_text("1,2,3\n")
