"""Every diagnostic code is explained (`--explain`, docs/DIAGNOSTICS.md), raised with a hint, and named by a test;
negative tests for the codes no other test named."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from robustness.corpus_models import small_model
from torch import nn

import snncompile.nn as snn
from snncompile import compile, ir
from snncompile.cli import cli
from snncompile.errors import CODES, USAGE_CODES, CompileError, Diagnostic
from snncompile.errors_explain import EXPLANATIONS, explain, markdown
from snncompile.passes import PassContext

ROOT = Path(__file__).resolve().parents[2]
RAISERS = ("error", "Diagnostic")

NOT_RAISED = {
    "SNC200": "reserved: IR verification reports the specific codes SNC201-SNC206",
    "SNC530": "retired with the legalize-threshold pass (never reused)",
    "SNC531": "retired with the legalize-threshold pass (never reused)",
}
"""Codes exempt from the named-by-a-test check, each with its reason (keep this list shrinking)."""


def test_every_code_has_an_explanation() -> None:
    assert sorted(EXPLANATIONS) == sorted(CODES)
    for e in EXPLANATIONS.values():
        assert e.title == CODES[e.code] and e.meaning.strip() and e.action.strip()
    assert USAGE_CODES <= set(CODES)


def test_docs_page_is_generated_from_the_table() -> None:
    page = (ROOT / "docs" / "DIAGNOSTICS.md").read_text()
    assert page == markdown(), "regenerate: python -m snncompile.errors_explain > docs/DIAGNOSTICS.md"
    assert all(f"## {code}: " in page for code in CODES)


def test_explain_prints_title_meaning_and_action() -> None:
    result = CliRunner().invoke(cli, ["--explain", "SNC601"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"SNC601: {CODES['SNC601']}"
    assert "meaning:" in result.output and "what to do:" in result.output
    assert "usage error (exit 2)" in explain("snc400")


def test_a_diagnostic_without_a_raise_site_hint_gets_the_codes_advice() -> None:
    d = Diagnostic("SNC607", "dense layer has no synapse from the netx layer before it")
    assert f"hint: {EXPLANATIONS['SNC607'].action}" in d.render() and d.to_json()["hint"]
    assert "hint: mine" in Diagnostic("SNC607", "x", hint="mine").render()


def _raise_sites() -> list[tuple[str, int, str, bool]]:
    sites = []
    for path in sorted((ROOT / "snncompile").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            first = node.args[0]
            if name in RAISERS and isinstance(first, ast.Constant) and str(first.value).startswith("SNC"):
                has_hint = any(k.arg == "hint" for k in node.keywords) or (name == "Diagnostic" and len(node.args) >= 5)
                sites.append((str(path.relative_to(ROOT)), node.lineno, str(first.value), has_hint))
    return sites


def test_every_error_and_diagnostic_call_gives_a_hint() -> None:
    sites = _raise_sites()
    assert len(sites) > 50 and {code for *_, code, _ in sites} <= set(CODES)
    missing = [f"{path}:{line} {code}" for path, line, code, has_hint in sites if not has_hint]
    assert not missing, "add hint= to: " + ", ".join(missing)


def test_every_code_is_named_by_a_test() -> None:
    text = "".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name)
    text += Path(__file__).read_text().split("NOT_RAISED = ", 1)[1].split("\n\n", 1)[1]  # not the exemption list
    unnamed = sorted(c for c in CODES if c not in text and c not in NOT_RAISED)
    assert not unnamed, f"no test names {unnamed}"


# --- negative tests for codes no other test named -------------------------------------------------------------


def _codes(fn: object) -> list[str]:
    with pytest.raises(CompileError) as info:
        fn()  # type: ignore[operator]
    return info.value.codes


def test_snc404_unknown_target_option_is_a_usage_error() -> None:
    with pytest.raises(CompileError) as info:
        compile(small_model(), "sim", options={"bogus": 1})
    assert info.value.codes == ["SNC404"] and info.value.is_usage


def test_snc410_op_the_target_does_not_run() -> None:
    from snncompile.targets.base import Capabilities, supported_ops_rule

    caps = Capabilities(ops=frozenset({ir.Input}))  # type: ignore[call-arg]
    g = ir.Graph((ir.Input("x", (), shape=(3,)), ir.Identity("y", ("x",), "m.y")), ("y",))
    (d,) = supported_ops_rule(caps, "tiny")(g)
    assert d.code == "SNC410" and d.origin == "m.y" and d.hint


def test_snc301_norm_left_after_fold_norm() -> None:
    from snncompile.passes.fold_norm import NO_NORMS

    bn = ir.BatchNorm("bn", ("x",), "m.bn", mean=np.zeros(3), var=np.ones(3), weight=np.ones(3), bias=np.zeros(3),
                      eps=1e-5, eps_inside=True)
    (d,) = NO_NORMS(ir.Graph((ir.Input("x", (), shape=(3, 2, 2)), bn), ("bn",)))
    assert d.code == "SNC301" and d.hint


def _loihi(model: nn.Module) -> list[str]:
    model.input_shape, model.timesteps = (1, 6, 6), 4  # type: ignore[assignment]
    return _codes(lambda: compile(model.eval(), "loihi"))


def test_snc601_synapse_reading_a_synapse() -> None:
    model = nn.Sequential(snn.TimeDistributed(nn.Conv2d(1, 2, 3, 1, 1), nn.Conv2d(2, 2, 3, 1, 1)), snn.LIF(),
                          snn.TimeDistributed(nn.Flatten()), snn.Readout(72, 3))
    assert "SNC601" in _loihi(model)


def test_snc602_max_pool_of_graded_values() -> None:
    model = nn.Sequential(snn.TimeDistributed(nn.Conv2d(1, 2, 3, 1, 1), nn.MaxPool2d(2)), snn.LIF(),
                          snn.TimeDistributed(nn.Flatten()), snn.Readout(18, 3))
    assert "SNC602" in _loihi(model)


def test_snc800_nir_max_pool_of_graded_values() -> None:
    model = nn.Sequential(snn.TimeDistributed(nn.Conv2d(1, 2, 3, 1, 1), nn.MaxPool2d(2)), snn.LIF(),
                          snn.TimeDistributed(nn.Flatten()), snn.Readout(18, 3))
    model.input_shape, model.timesteps = (1, 6, 6), 4  # type: ignore[assignment]
    assert "SNC800" in _codes(lambda: compile(model.eval(), "nir"))


def test_snc901_accuracy_drop_beyond_tolerance() -> None:
    from types import SimpleNamespace

    from snncompile.verification.core import _checks

    acc = {"pytorch": 0.9, "loihi": 0.5}
    stats = SimpleNamespace(pairs=[], not_recorded={}, logit_error={}, logit_scale=0.0, reference_dtype="float64")
    report = SimpleNamespace(stats=stats, layers=[], reference="pytorch", final="loihi", tolerance=0.01,
                             accuracy=acc.get)
    (d,) = _checks(report)  # type: ignore[arg-type]
    assert d.code == "SNC901" and "40.00 points" in d.message and d.hint


def test_snc618_integer_model_compiled_again(tmp_path: Path) -> None:
    torch.save(small_model(), tmp_path / "m.pt")
    runner = CliRunner()
    assert runner.invoke(cli, [str(tmp_path / "m.pt"), "-t", "onnx-loihi", "-o", str(tmp_path / "o"),
                               "--no-check"]).exit_code == 0
    result = runner.invoke(cli, [str(tmp_path / "o" / "model.onnx"), "-t", "loihi", "-o", str(tmp_path / "l")])
    assert result.exit_code == 1 and "SNC618" in result.stderr and not (tmp_path / "l").exists()


def test_snc107_names_the_failing_module_and_the_kind_of_branch() -> None:
    from robustness.corpus_models import ShapeBranch, ValueBranch, with_block

    with pytest.raises(CompileError) as info:
        compile(with_block(ShapeBranch()))
    shape = info.value.diagnostics[0]
    with pytest.raises(CompileError) as info:
        compile(with_block(ValueBranch()))
    value = info.value.diagnostics[0]
    assert shape.code == value.code == "SNC107"
    assert shape.origin == "1.0" and "ShapeBranch" in shape.message and "shape" in shape.message
    assert value.origin == "1.0" and "ValueBranch" in value.message and "data-dependent" in value.message
    assert "input_shape" in (shape.hint or "") and "register_converter" in (value.hint or "")


def test_snc500_names_module_paths_not_ir_names() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.lif1 = snn.TimeDistributed(nn.Conv2d(1, 4, 3, 1, 1)), snn.LIF()
            self.bn, self.lif2 = snn.TimeDistributed(nn.BatchNorm2d(4)), snn.LIF()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lif2(self.bn(self.lif1(self.conv(x))))

    model = nn.Sequential(Block(), snn.TimeDistributed(nn.Flatten()), snn.Readout(144, 3))
    model.input_shape, model.timesteps = (1, 6, 6), 4  # type: ignore[assignment]
    with torch.no_grad():
        model[0].bn[0].bias.fill_(0.3)  # type: ignore[index]
    with pytest.raises(CompileError) as info:
        compile(model.eval())
    (d,) = info.value.diagnostics
    assert d.code == "SNC500" and "`0.lif1` (lif)" in d.message and "lif `0.lif2`" in d.message
    assert "%" not in d.message


# --- Loihi schedule, quantizer and rules on hand-built IR graphs -----------------------------------------------


def _loihi_ir(graph: ir.Graph, **options: object) -> tuple[list[Diagnostic], PassContext]:
    """The Loihi pipeline on an IR graph: the errors it raised (empty if it compiled) and its context."""
    from snncompile.targets.loihi import LOIHI

    ctx = PassContext()
    try:
        LOIHI.with_options(options).pipeline().run(graph, ctx)
    except CompileError as exc:
        return list(exc.diagnostics), ctx
    return [], ctx


def _only(diags: list[Diagnostic], code: str) -> Diagnostic:
    assert [d.code for d in diags] == [code], [d.render() for d in diags]
    return diags[0]


def test_snc605_skip_connection_longer_than_the_delay_range() -> None:
    """64 netx layers between the skip's source and its target: the synapse needs 63 extra steps (max 62)."""
    from snncompile.targets.loihi.testnets import Builder

    b = Builder((3,), timesteps=4)
    first = src = b.lif("l0", [b.dense("fc0", "input", 3, gain=2.0)])
    for i in range(1, 65):
        skip = [b.dense("skip", first, 3)] if i == 64 else []
        src = b.lif(f"l{i}", [b.dense(f"fc{i}", src, 3, gain=2.0), *skip])
    d = _only(_loihi_ir(b.readout(src))[0], "SNC605")
    assert d.node == d.origin == "l64" and "%l0" in d.message and "63 steps" in d.message and d.hint


def test_snc605_rule_refuses_a_delay_beyond_62_on_a_fixed_point_graph() -> None:
    from snncompile.targets.loihi import LOIHI, testnets

    q = testnets.stress_graph()
    lif = q.node("lif1")
    bad = q.with_nodes([lif.replace(inputs=(ir.Edge("fc1", 64),)) if n is lif else n for n in q.nodes])
    d = _only([d for rule in LOIHI.rules() for d in rule(bad)], "SNC605")
    assert d.node == "lif1" and "[64]" in d.message and "hint: " in d.render()


def test_snc606_readout_reading_a_conv_output() -> None:
    """A conv between the last population and the readout is not a linear map of spike counts Loihi exposes."""
    from snncompile.targets.loihi.testnets import Builder

    b = Builder((1, 4, 4), timesteps=4)
    a = b.lif("l0", [b.conv("conv0", "input", 2, gain=2.0)])
    d = _only(_loihi_ir(b.readout(b.conv("conv1", a, 2)))[0], "SNC606")
    assert d.node == d.origin == "readout" and "%readout.flat" in d.message and d.hint


def test_snc612_threshold_varying_within_a_conv_channel() -> None:
    from snncompile.targets.loihi.testnets import Builder

    b = Builder((1, 4, 4), timesteps=4)
    g = b.readout(b.lif("l0", [b.conv("conv0", "input", 2, gain=2.0)]))
    lif = g.node("l0")
    theta = np.full((1, 2, 4, 4), 0.5)
    theta[0, 0, 0, 0] = 0.7  # one position of channel 0 differs
    g = g.with_nodes([lif.replace(threshold=theta) if n is lif else n for n in g.nodes])
    d = _only(_loihi_ir(g)[0], "SNC612")
    assert d.node == d.origin == "l0" and "within a channel" in d.message and d.hint


def test_snc623_voltage_may_saturate_is_a_warning_with_overflow_warn() -> None:
    from snncompile.targets.loihi import testnets

    graph = testnets.dense_chain(sizes=(12000, 16), timesteps=4, gain=1.0)
    errors, ctx = _loihi_ir(graph, overflow="warn", input_encoding="binary")
    assert errors == []
    (d,) = [d for d in ctx.diagnostics if d.code == "SNC623"]
    assert d.severity == "warning" and d.node == d.origin == "lif0" and "2^23" in d.message and d.hint


def test_snc625_synaptic_sum_beyond_int32() -> None:
    """8-bit graded input × 600 weights of 200..254: |A| ≈ 3.5e7, past Lava's own int32 arithmetic."""
    from snncompile.targets.loihi import LOIHI, testnets
    from snncompile.targets.loihi.ops import Encode

    q = testnets.stress_graph()
    (enc,) = q.of_kind(Encode)
    fc0 = q.node("fc0")
    swap = {enc.name: enc.replace(scale=255.0, high=255), fc0.name: fc0.replace(weight=np.abs(fc0.weight))}  # type: ignore[attr-defined]
    bad = q.with_nodes([swap.get(n.name, n) for n in q.nodes])
    d = _only([d for rule in LOIHI.rules() for d in rule(bad)], "SNC625")
    assert d.node == "lif0" and "int32" in d.message and d.hint


# --- the compile check of a .nir source ------------------------------------------------------------------------


def test_snc815_compiled_nir_graph_disagrees_with_the_nir_reference(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference whose hidden layer spikes differently from the imported graph: the CLI refuses the compile."""
    import nir

    from snncompile.frontend.nir import reference

    rng = np.random.default_rng(0)
    nodes = {"input": nir.Input(np.array([6])), "fc": nir.Affine(rng.normal(0, 1.5, (4, 6)), np.full(4, 0.3)),
             "lif": nir.LIF(tau=np.full(4, 1e-3), r=np.full(4, 10.0), v_leak=np.zeros(4),
                            v_threshold=np.ones(4), v_reset=np.zeros(4)),
             "out": nir.Affine(rng.normal(0, 1, (3, 4)), np.zeros(3)), "output": nir.Output(np.array([3]))}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "out"), ("out", "output")]
    nir.write(tmp_path / "g.nir", nir.NIRGraph(nodes, edges, metadata={"dt": 1e-4, "timesteps": 6}))
    honest = reference.run_nir

    def wrong(*args: object, **kwargs: object) -> dict[str, np.ndarray]:
        ref = honest(*args, **kwargs)  # type: ignore[arg-type]
        return {**ref, "lif": 1.0 - ref["lif"]}  # every spike decision inverted

    monkeypatch.setattr(reference, "run_nir", wrong)
    out = tmp_path / "sim"
    result = CliRunner().invoke(cli, [str(tmp_path / "g.nir"), "-t", "sim", "--nir-convention", "nir",
                                      "-o", str(out)])
    assert result.exit_code == 1 and "error[SNC815]" in result.stderr, result.output
    assert "first `lif`" in result.stderr and "--nir-convention" in result.stderr and not out.exists()


# --- output paths ----------------------------------------------------------------------------------------------


def test_snc402_output_inside_a_read_only_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-o under a directory without write permission is refused before compiling (exit 1, nothing written).
    The suite may run as root, for whom os.access ignores the mode bits: there it answers from them."""
    import os
    import stat

    from snncompile import validate

    torch.save(small_model(), tmp_path / "m.pt")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    real_access = os.access

    def by_mode_bits(path: object, mode: int, **kwargs: object) -> bool:
        if Path(str(path)).resolve() == locked.resolve() and mode & os.W_OK:
            return bool(locked.stat().st_mode & stat.S_IWUSR)
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(validate.os, "access", by_mode_bits)
    try:
        result = CliRunner().invoke(cli, [str(tmp_path / "m.pt"), "-o", str(locked / "out")])
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 1 and "error[SNC402]" in result.stderr and "no permission" in result.stderr
    assert "hint: " in result.stderr and list(locked.iterdir()) == []


def test_codes_table_has_no_duplicate_keys() -> None:
    """A dict literal silently keeps the last of two equal keys: two features must never share a code."""
    import ast

    source = (ROOT / "snncompile" / "errors.py").read_text()
    table = next(node.value for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "CODES")
    keys = [k.value for k in table.keys if isinstance(k, ast.Constant)]  # type: ignore[attr-defined]
    assert len(keys) == len(set(keys)) == len(CODES), sorted(k for k in keys if keys.count(k) > 1)
