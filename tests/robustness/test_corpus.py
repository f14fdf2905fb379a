"""The bad-input corpus through the CLI: each case's exit code, diagnostic code, no traceback, no partial output,
and every pre-existing file (a previous artifact in -o, earlier results) byte-identical afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from robustness.corpus import Corpus, build

from snncompile.cli import cli


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build(tmp_path_factory.mktemp("corpus"))


@dataclass(frozen=True)
class Case:
    """argv(corpus, work) -> the command line, run in `work` (which holds out/, a previous artifact, and
    result.npz, a previous simulate result). code None: a click usage error (no SNC code)."""

    family: str
    name: str
    argv: Callable[[Corpus, Path], list[str]]
    exit: int
    code: str | None
    says: str = ""


def compile_(*extra: str, model: str | None = None) -> Callable[[Corpus, Path], list[str]]:
    return lambda c, w: [model.format(c=c.root) if model else c.model, "-o", str(w / "out"), *extra]


def src(name: str, *extra: str) -> Callable[[Corpus, Path], list[str]]:
    return lambda c, w: [str(c / name), "-o", str(w / "out"), *extra]


def sim(name: str, *, out: str = "result.npz", artifact: str | None = None) -> Callable[[Corpus, Path], list[str]]:
    return lambda c, w: ["simulate", str(c / artifact) if artifact else str(c.artifact), "--input", str(c / name),
                         "-o", str(w / out)]


def ver(name: str, *extra: str) -> Callable[[Corpus, Path], list[str]]:
    return lambda c, w: ["verify", c.model, "--target", "sim", "--data", str(c / name), "--no-lava", *extra]


def fac(spec: str) -> Callable[[Corpus, Path], list[str]]:
    return lambda c, w: [str(c / "state_dict.pt"), "--factory", spec, "-o", str(w / "out")]


def out_under_file(c: Corpus, w: Path) -> list[str]:
    (w / "a_file").write_text("x")
    return [c.model, "-o", str(w / "a_file" / "out")]


def out_foreign_dir(c: Corpus, w: Path) -> list[str]:
    (w / "mine").mkdir()
    (w / "mine" / "notes.txt").write_text("my notes")
    return [c.model, "-o", str(w / "mine")]


def out_existing_file(c: Corpus, w: Path) -> list[str]:
    (w / "file.bin").write_bytes(b"keep me")
    return [c.model, "-o", str(w / "file.bin")]


def artifact_without_graph(c: Corpus, w: Path) -> list[str]:
    (w / "bare").mkdir()
    return ["simulate", str(w / "bare"), "--input", str(c / "x_ok.npy"), "-o", str(w / "r.npz")]


def sim_out_dir(c: Corpus, w: Path) -> list[str]:
    return ["simulate", str(c.artifact), "--input", str(c / "x_ok.npy"), "-o", str(w / "out")]


CASES: list[Case] = [
    # --- sources: damaged, hostile or missing files -------------------------------------------------------------
    Case("source", "missing-model", src("nope.pt"), 2, "SNC108", "does not exist"),
    Case("source", "model-is-dir", src("model_dir.pt"), 2, None, "is a directory"),
    Case("source", "missing-onnx", src("nope.onnx"), 2, "SNC108"),
    Case("source", "missing-nir", src("nope.nir"), 2, "SNC108"),
    Case("source", "empty-file", src("empty.pt"), 1, "SNC104"),
    Case("source", "truncated", src("truncated.pt"), 1, "SNC104"),
    Case("source", "random-bytes", src("random.pt"), 1, "SNC104"),
    Case("source", "text-file", src("text.pt"), 1, "SNC104"),
    Case("source", "zip-garbage", src("zipjunk.pt"), 1, "SNC104"),
    Case("source", "state-dict-no-factory", src("state_dict.pt"), 1, "SNC104", "--factory"),
    Case("source", "tensor", src("tensor.pt"), 1, "SNC104", "Tensor"),
    Case("source", "list-of-models", src("list.pt"), 1, "SNC104"),
    Case("source", "hostile-pickle", src("payload.pt"), 1, "SNC103", "system"),
    Case("source", "hostile-raw-pickle", src("payload_raw.pt"), 1, "SNC104"),
    Case("source", "hostile-nested-pickle", src("payload_nested.pt"), 1, "SNC103"),
    Case("source", "module-gone", src("vanishing.pt"), 1, "SNC103", "vanishing_models"),
    Case("source", "module-gone-trusted", src("vanishing.pt", "--trust-pickle"), 1, "SNC104", "PYTHONPATH"),
    Case("source", "onnx-random", src("random.onnx"), 1, "SNC952"),
    Case("source", "onnx-meta-not-json", src("meta_not_json.onnx"), 1, "SNC952", "not JSON"),
    Case("source", "onnx-meta-list", src("meta_list.onnx"), 1, "SNC952"),
    Case("source", "nir-random", src("random.nir"), 1, "SNC810"),
    Case("source", "nir-no-edges", src("no_edges.nir", "--nir-convention", "nir"), 1, "SNC813", "Input"),
    Case("source", "nir-dangling-output", src("no_output_edge.nir", "--nir-convention", "nir"), 1, "SNC813"),
    Case("source", "nir-unknown-writer", src("no_edges.nir"), 1, "SNC816"),
    Case("source", "factory-import-raises", fac("factory_boom:build"), 1, "SNC106", "module exploded at import"),
    Case("source", "factory-syntax-error", fac("factory_syntax:build"), 1, "SNC106", "SyntaxError"),
    Case("source", "factory-missing-module", fac("no_such_module_xyz:build"), 1, "SNC106", "PYTHONPATH"),
    Case("source", "factory-bad-spec", fac("robustness.corpus_models"), 1, "SNC106", "pkg.module:function"),
    Case("source", "factory-missing-fn", fac("robustness.corpus_models:nope"), 1, "SNC106", "nope"),
    Case("source", "factory-raises", fac("robustness.corpus_models:build_raises"), 1, "SNC106", "exploded"),
    Case("source", "factory-not-module", fac("robustness.corpus_models:build_not_a_module"), 1, "SNC106"),
    Case("source", "factory-mismatch", fac("robustness.corpus_models:build_other"), 1, "SNC106"),
    # --- models: shapes, timesteps, parameters, layers ----------------------------------------------------------
    Case("model", "empty-sequential", src("empty_seq.pt"), 1, "SNC110"),
    Case("model", "identity-only", src("identity.pt"), 1, "SNC110"),
    Case("model", "timesteps-zero", src("t0.pt"), 1, "SNC109", "model.timesteps = 0"),
    Case("model", "timesteps-negative", src("tneg.pt"), 1, "SNC109"),
    Case("model", "timesteps-float", src("tfloat.pt"), 1, "SNC109"),
    Case("model", "shape-negative", src("shape_neg.pt"), 1, "SNC109", "-6"),
    Case("model", "shape-string", src("shape_str.pt"), 1, "SNC109"),
    Case("model", "shape-zero", src("shape_zero.pt"), 1, "SNC109"),
    Case("model", "shape-float", src("shape_float.pt"), 1, "SNC109"),
    Case("model", "shape-empty", src("shape_empty.pt"), 1, "SNC109"),
    Case("model", "shape-unknown", src("no_shape.pt"), 1, "SNC105"),
    Case("model", "nan-weight", src("nan_weight.pt"), 1, "SNC205"),
    Case("model", "inf-weight", src("inf_weight.pt"), 1, "SNC205"),
    Case("model", "nan-threshold", src("nan_th.pt"), 1, "SNC205"),
    Case("model", "inf-threshold", src("inf_th.pt"), 1, "SNC205"),
    Case("model", "zero-threshold-loihi", src("zero_th.pt", "-t", "loihi"), 1, "SNC613"),
    Case("model", "negative-threshold-loihi", src("neg_th.pt", "-t", "loihi"), 1, "SNC613"),
    Case("model", "zero-params-loihi", src("zero_params.pt", "-t", "loihi"), 1, "SNC614"),
    Case("model", "unsupported-layer", src("lstm.pt"), 1, "SNC103", "LSTM"),
    Case("model", "unsupported-layer-trusted", src("lstm.pt", "--trust-pickle"), 1, "SNC100", "LSTM"),
    Case("model", "unsupported-function", src("sigmoid.pt", "--trust-pickle"), 1, "SNC101", "sigmoid"),
    Case("model", "shape-branch", src("shape_branch.pt", "--trust-pickle"), 1, "SNC107", "shape"),
    Case("model", "value-branch", src("value_branch.pt", "--trust-pickle"), 1, "SNC107", "data-dependent"),
    Case("model", "wrong-input-shape", compile_("--input-shape", "1,5,5"), 1, "SNC204"),
    Case("model", "loihi-without-neurons", src("no_neuron.pt", "-t", "loihi"), 1, "SNC608"),
    # --- command line use ----------------------------------------------------------------------------------------
    Case("usage", "unknown-target", compile_("-t", "tpu"), 2, "SNC400", "available"),
    Case("usage", "print-ir-after-typo", compile_("--print-ir-after", "fold-nrom"), 2, "SNC401", "fold-norm"),
    Case("usage", "input-shape-zero", compile_("--input-shape", "0,6,6"), 2, None, "--input-shape"),
    Case("usage", "input-shape-text", compile_("--input-shape", "abc"), 2, None, "--input-shape"),
    Case("usage", "timesteps-zero-flag", compile_("--timesteps", "0"), 2, None, "--timesteps"),
    Case("usage", "timesteps-text-flag", compile_("-T", "four"), 2, None, "--timesteps"),
    Case("usage", "unknown-flag", compile_("--frobnicate"), 2, None, "--frobnicate"),
    Case("usage", "loihi-flag-on-sim", compile_("--loihi-overflow", "warn"), 2, None, "--target loihi"),
    Case("usage", "bad-choice", compile_("-t", "loihi", "--loihi-overflow", "sometimes"), 2, None, "overflow"),
    Case("usage", "no-model", lambda c, w: ["compile"], 2, None, "MODEL"),
    Case("usage", "explain-unknown", lambda c, w: ["--explain", "SNC999"], 2, None, "SNC999"),
    Case("usage", "simulate-missing-artifact", sim("x_ok.npy", artifact="nope_dir"), 2, None, "nope_dir"),
    Case("usage", "simulate-missing-input", sim("nope.npy"), 2, None, "nope.npy"),
    Case("usage", "verify-missing-model", lambda c, w: ["verify", str(c / "nope.pt"), "--no-lava"], 2, "SNC108"),
    Case("usage", "verify-unknown-target", ver("d_ok.npz", "--target", "tpu"), 2, "SNC400"),
    # --- output paths --------------------------------------------------------------------------------------------
    Case("output", "out-is-cwd", lambda c, w: [c.model, "-o", "."], 1, "SNC402", "working directory"),
    Case("output", "out-is-parent", lambda c, w: [c.model, "-o", ".."], 1, "SNC402", "working directory"),
    Case("output", "out-under-file", out_under_file, 1, "SNC402", "file"),
    Case("output", "out-foreign-dir", out_foreign_dir, 1, "SNC402", "not an snncompile"),
    Case("output", "out-existing-file", out_existing_file, 1, "SNC402"),
    Case("output", "simulate-out-missing-dir", sim("x_ok.npy", out="no/such/dir/r.npz"), 1, "SNC402", "exist"),
    Case("output", "simulate-out-is-dir", sim_out_dir, 2, None, "is a directory"),
    Case("output", "simulate-bare-artifact", artifact_without_graph, 1, "SNC402", "graph.json"),
    # --- data: simulate inputs -----------------------------------------------------------------------------------
    Case("data", "npy-text", sim("x_text.npy"), 1, "SNC207", "text"),
    Case("data", "npy-bytes", sim("x_bytes.npy"), 1, "SNC207"),
    Case("data", "npy-object", sim("x_object.npy"), 1, "SNC207"),
    Case("data", "npy-complex", sim("x_complex.npy"), 1, "SNC207", "complex"),
    Case("data", "npy-empty", sim("x_empty.npy"), 1, "SNC207", "no values"),
    Case("data", "npy-nan", sim("x_nan.npy"), 1, "SNC207", "[2, 1, 0, 3, 4]"),
    Case("data", "npy-inf", sim("x_inf.npy"), 1, "SNC207", "[0, 0, 0, 0, 1]"),
    Case("data", "npy-truncated", sim("x_truncated.npy"), 1, "SNC207"),
    Case("data", "npy-random", sim("x_random.npy"), 1, "SNC207"),
    Case("data", "npy-huge-header", sim("x_huge_header.npy"), 1, "SNC207"),
    Case("data", "npy-is-npz", sim("x_archive.npy"), 1, "SNC207", ".npz"),
    Case("data", "npy-text-file", sim("not_data.txt"), 1, "SNC207"),
    Case("data", "npy-wrong-shape", sim("x_wrong_shape.npy"), 1, "SNC204"),
    # --- data: verify and calibration files ----------------------------------------------------------------------
    Case("data", "verify-nan", ver("d_nan.npz"), 1, "SNC902", "[4, 0, 2, 2]"),
    Case("data", "verify-inf", ver("d_inf.npz"), 1, "SNC902", "[1, 0, 0, 0]"),
    Case("data", "verify-label-high", ver("d_label_high.npz"), 1, "SNC902", "y[3] = 3"),
    Case("data", "verify-label-negative", ver("d_label_neg.npz"), 1, "SNC902", "y[1] = -1"),
    Case("data", "verify-label-nan", ver("d_label_nan.npz"), 1, "SNC902", "[2]"),
    Case("data", "verify-label-fraction", ver("d_label_frac.npz"), 1, "SNC902", "not integer"),
    Case("data", "verify-label-length", ver("d_label_len.npz"), 1, "SNC902"),
    Case("data", "verify-label-text", ver("d_label_str.npz"), 1, "SNC902"),
    Case("data", "verify-zero-samples", ver("d_zero.npz"), 1, "SNC902"),
    Case("data", "verify-no-x", ver("d_no_x.npz"), 1, "SNC902", "images"),
    Case("data", "verify-wrong-shape", ver("d_shape.npz"), 1, "SNC902"),
    Case("data", "verify-text-x", ver("d_text.npz"), 1, "SNC902"),
    Case("data", "verify-object-x", ver("d_object.npz"), 1, "SNC902"),
    Case("data", "verify-random-file", ver("d_random.npz"), 1, "SNC902"),
    Case("data", "verify-missing-file", ver("nope.npz"), 1, "SNC910", "does not exist"),
    Case("data", "calibration-nan", lambda c, w: [c.model, "-t", "loihi", "--loihi-calibration",
                                                  str(c / "d_cal_nan.npz"), "-o", str(w / "out")], 1, "SNC902"),
]


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _prepare(corpus: Corpus, work: Path) -> None:
    shutil.copytree(corpus.artifact, work / "out")
    (work / "result.npz").write_bytes(b"a previous simulate result")


def run_case(case: Case, corpus: Corpus, work: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run one case; assert exit code, code, no traceback, no partial output, pre-existing files unchanged."""
    _prepare(corpus, work)
    argv = case.argv(corpus, work)
    before = _snapshot(work)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(corpus.root))
    result = CliRunner().invoke(cli, argv)
    text = result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        f"{case.name}: escaped as {result.exception!r}\n{text}"
    assert result.exit_code == case.exit, f"{case.name}: exit {result.exit_code}\n{text}"
    assert "Traceback" not in text and "internal error" not in text, text
    if case.code is None:
        assert "Error:" in text and "[SNC" not in text, text
    else:
        assert f"error[{case.code}]" in result.stderr, f"{case.name}: expected {case.code}\n{text}"
        assert all("\n  hint: " in block for block in result.stderr.split("error[")[1:]), text
    assert case.says in text, f"{case.name}: {case.says!r} not in\n{text}"
    assert _snapshot(work) == before, f"{case.name}: files under -o or beside it changed"
    assert not corpus.marker.exists(), "a hostile pickle ran"
    return text


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}-{c.name}" for c in CASES])
def test_bad_input(case: Case, corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, corpus, tmp_path, monkeypatch)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 80
    assert len({c.name for c in CASES}) == len(CASES)
