"""write → read → compare: every graph snncompile writes passes nir.read's type check and reads back into the
same IR (names, kinds, edges and delays, options; parameters to float rounding), with identical spikes."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

from snncompile import ir
from snncompile.api import compile as compile_model
from snncompile.frontend.nir.reader import NirReadOptions, read_nir
from snncompile.frontend.nir.reference import run_nir
from snncompile.sim import simulate

EXAMPLES = [p for p in sorted((Path(__file__).parents[3] / "examples" / "models").glob("*.pt"))
            if p.stem != "psp_preact_resnet"]  # the slowest; its residual fan-in is what tdbn_resnet covers


def assert_same_ir(a: ir.Graph, b: ir.Graph) -> None:
    assert a.outputs == b.outputs and set(a.by_name) == set(b.by_name)
    for n in a.nodes:
        m = b.node(n.name)
        assert (type(m), m.inputs, m.origin) == (type(n), n.inputs, n.origin), n.name
        for f in n.attribute_fields():
            assert getattr(m, f) == getattr(n, f), (n.name, f)
        for f in n.array_fields():
            x, y = getattr(n, f), getattr(m, f)
            assert (x is None) == (y is None), (n.name, f)
            if x is not None:
                np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-15, err_msg=f"{n.name}.{f}")


def variants(nirkit) -> dict[str, ir.Graph]:
    g = nirkit.conv(pool="sum")
    delayed = g.with_nodes([n.replace(inputs=(ir.Edge("l1", 3),)) if n.name == "p" else n for n in g.nodes])
    mlp = nirkit.mlp()
    lif = mlp.node("lif1")
    per_neuron = mlp.with_nodes([lif.replace(threshold=np.linspace(0.2, 2, 20)[None], gain=np.linspace(0.5, 3, 20))
                                 if n is lif else n for n in mlp.nodes])
    return {"mlp": mlp, "conv": nirkit.conv(), "delayed": delayed, "residual": nirkit.residual(),
            "cuba": nirkit.cuba(), "readout": nirkit.readout(), "if": nirkit.mlp(decay=1.0),
            "no-reset": nirkit.mlp(reset="none"), "per-neuron": per_neuron}


@pytest.mark.parametrize("name", ["mlp", "conv", "delayed", "residual", "cuba", "readout", "if", "no-reset",
                                  "per-neuron"])
def test_round_trip(name: str, nirkit, tmp_path) -> None:
    compiled, path = nirkit.export(variants(nirkit)[name], tmp_path)
    nir.read(path)  # type-checks
    imported = read_nir(path)
    assert imported.convention.name == "snncompile" and imported.dt == 1e-4 and not imported.warnings
    assert_same_ir(compiled, imported.graph)
    inp = compiled.of_kind(ir.Input)[0]
    x = nirkit.spikes(inp.shape, seed=5)
    assert np.array_equal(simulate(imported.graph, x).output, simulate(compiled, x).output)
    ref = run_nir(imported.nir_graph, x, imported.dt, imported.convention)  # independent Euler semantics
    out = compiled.outputs[0]
    spikes = ref[f"{out}.spikes"] if f"{out}.spikes" in ref else ref[out]
    expected = simulate(compiled, x).values[out]
    if isinstance(compiled.node(out), ir.Readout):
        spikes = spikes.mean(0)
        np.testing.assert_allclose(spikes, expected, rtol=1e-12, atol=1e-12)
    else:
        assert np.array_equal(spikes, expected)


def test_opted_in_semantics_come_back_under_the_snncompile_convention(nirkit, tmp_path) -> None:
    g = nirkit.mlp(reset="subtract", comparison=">=")
    compiled, path = nirkit.export(g, tmp_path, allow={"reset", "non-strict"})
    assert_same_ir(compiled, read_nir(path).graph)
    as_nir = read_nir(path, NirReadOptions(convention="nir")).graph
    assert {n.reset for n in as_nir.of_kind(ir.LIF)} == {"zero"}  # what the NIR file itself says


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_shipped_examples_export_and_read_back(example: Path, tmp_path) -> None:
    # the S2NN example fires on >=
    result = compile_model(example, "nir", tmp_path / "out", options={"allow": {"non-strict"}})
    path = tmp_path / "out" / "model.nir"
    nir.read(path)
    imported = read_nir(path)
    assert_same_ir(result.graph, imported.graph)
