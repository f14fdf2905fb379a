"""fold-norm diagnostics: one negative test per code it raises or warns, plus its contract (rules, registry)."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import ir
from snncompile.errors import CODES, CompileError, Diagnostic
from snncompile.passes import PASS_REGISTRY, FoldNorm, PassContext, Pipeline
from snncompile.passes.fold_norm import NO_NORMS

S = (3, 4, 4)


def conv(name: str, src: str | ir.Edge, c_in: int = 3, pad: int = 1) -> ir.Conv2d:
    rng = np.random.default_rng(0)
    return ir.Conv2d(name, (src,), f"m.{name}", weight=rng.normal(size=(3, c_in, 3, 3)), padding=(pad, pad))


def bn(name: str, src: str | ir.Edge, var: float = 1.0, eps: float = 1e-5, inside: bool = True) -> ir.BatchNorm:
    return ir.BatchNorm(name, (src,), f"m.{name}", mean=np.full(3, 0.2), var=np.full(3, var),
                        weight=np.array([1.0, -2.0, 0.5]), bias=np.array([0.1, 0.2, 0.3]), eps=eps,
                        eps_inside=inside)


def lif(name: str, *srcs: str | ir.Edge) -> ir.LIF:
    shape = (3, 4, 4)
    return ir.LIF(name, srcs, f"m.{name}", decay=np.full(shape, 0.5), threshold=np.full((1, *shape), 0.5))


def mpbn(name: str, src: str, gamma: list[float], bias: float = 0.1, reset: str = "zero", var: float = 1.0,
         eps: float = 1e-5) -> ir.MPBNLIF:
    p = (3, 1, 1)
    return ir.MPBNLIF(name, (src,), f"m.{name}", decay=np.full(S, 0.25), mean=np.full(p, 0.3),
                      var=np.full(p, var), weight=np.reshape(gamma, p), bias=np.full(p, bias), eps=eps, reset=reset)


def graph(*nodes: ir.Op) -> ir.Graph:
    g = ir.Graph((ir.Input("x", (), shape=S), *nodes), (nodes[-1].name,))
    ir.verify_or_raise(g)
    return g


def fold_error(g: ir.Graph) -> CompileError:
    with pytest.raises(CompileError) as info:
        Pipeline((FoldNorm(),)).run(g)
    for d in info.value.diagnostics:
        assert d.code in CODES and d.node and d.origin and d.hint and d.severity == "error"
    return info.value


def test_snc500_offset_norm_on_spikes_read_by_a_neuron() -> None:
    err = fold_error(graph(lif("a", "x"), bn("bn", "a"), lif("b", "bn")))
    (d,) = err.diagnostics
    assert (d.code, d.node, d.origin) == ("SNC500", "bn", "m.bn")
    assert "lif `m.b` has no bias" in d.message and "`m.a` (lif) is not a linear op" in d.message
    assert "%" not in d.message  # the user's module paths, not IR names


def test_snc500_offset_across_a_delayed_edge() -> None:
    err = fold_error(graph(conv("c", "x"), bn("bn", ir.Edge("c", 1)), lif("b", "bn")))
    assert err.codes == ["SNC500"] and "delayed edge `m.c`@1" in err.diagnostics[0].message


def test_snc500_norm_read_by_a_fan_in() -> None:
    err = fold_error(graph(lif("a", "x"), ir.PSPNorm("psp", ("a",), "m.psp", moment2=np.ones(3),
                                                     weight=np.ones(3)), lif("b", "psp", "a")))
    assert err.codes == ["SNC500"] and "sums 2 inputs" in err.diagnostics[0].message


def test_snc501_offset_norm_before_zero_padded_conv() -> None:
    err = fold_error(graph(lif("a", "x"), bn("bn", "a"), conv("c", "bn"), lif("b", "c")))
    (d,) = err.diagnostics
    assert (d.code, d.node, d.origin) == ("SNC501", "bn", "m.bn")
    assert "padding (1, 1)" in d.message and "max |b|" in d.message and "host" in (d.hint or "")


def test_pspnorm_without_bias_folds_before_padded_conv() -> None:
    psp = ir.PSPNorm("psp", ("a",), "m.psp", moment2=np.ones(3), weight=np.array([1.0, -2.0, 0.0]))
    folded, _ = Pipeline((FoldNorm(),)).run(graph(lif("a", "x"), psp, conv("c", "psp"), lif("b", "c")))
    assert "psp" not in folded and folded.node("c").bias is None


def test_snc502_mpbn_soft_reset_needs_unit_threshold() -> None:
    err = fold_error(graph(conv("c", "x"), mpbn("m", "c", [1.0, -1.0, 0.5], reset="subtract")))
    (d,) = err.diagnostics
    assert d.code == "SNC502" and "48 of 48 folded thresholds" in d.message and "differ from 1" in d.message


@pytest.mark.parametrize("node", [
    bn("bn", "c", var=0.0, eps=0.0, inside=False),
    mpbn("bn", "c", [1.0, 1.0, 1.0], var=0.0, eps=0.0),
    mpbn("bn", "c", [1.0, 1e-320, 1.0], bias=-1e10),
], ids=["bn-zero-denominator", "mpbn-zero-denominator", "mpbn-threshold-overflow"])
def test_snc503_non_finite_fold(node: ir.Op) -> None:
    tail = (lif("b", "bn"),) if isinstance(node, ir.BatchNorm) else ()
    err = fold_error(graph(conv("c", "x"), node, *tail))
    assert err.codes == ["SNC503"]


def test_snc504_warns_on_non_positive_thresholds() -> None:
    ctx = PassContext()
    g = graph(conv("c", "x"), mpbn("m", "c", [1.0, -1.0, 0.0], bias=0.9))
    folded, _ = Pipeline((FoldNorm(),)).run(g, ctx)
    (d,) = ctx.diagnostics
    assert (d.code, d.severity, d.node, d.origin) == ("SNC504", "warning", "m", "m.m")
    assert "min" in d.message and isinstance(folded.node("m"), ir.LIF)


def test_all_unfoldable_norms_are_reported_at_once() -> None:
    err = fold_error(graph(lif("a", "x"), bn("bn1", "a"), lif("b", "bn1"), bn("bn2", "b"), conv("c", "bn2"),
                           lif("d", "c")))
    assert err.codes == ["SNC500", "SNC501"]
    assert [d.node for d in err.diagnostics] == ["bn1", "bn2"]


def test_contract_rules_registry_and_stats() -> None:
    assert PASS_REGISTRY["fold-norm"] is FoldNorm and FoldNorm().spec == "fold-norm"
    assert NO_NORMS in FoldNorm.ensures
    g = graph(conv("c", "x"), bn("bn", "c"), lif("b", "bn"))
    assert [d.node for d in NO_NORMS(g)] == ["bn"]
    assert all(isinstance(d, Diagnostic) for d in NO_NORMS(g))
    folded, (record,) = Pipeline((FoldNorm(),)).run(g)
    assert NO_NORMS(folded) == []
    assert record.stats["into_producers"] == 1 and record.stats["largest_change_node"] == "c"
    assert any(n.startswith("F1 ") for n in record.notes)


def test_nothing_to_fold_keeps_every_node() -> None:
    g = graph(conv("c", "x"), lif("b", "c"))
    folded, (record,) = Pipeline((FoldNorm(),)).run(g)
    assert all(a is b for a, b in zip(g.nodes, folded.nodes, strict=True))
    assert not record.changed
