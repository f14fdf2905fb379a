"""The NIR frontend on hand-written graphs: node semantics against the NIR reference, dt and conventions, every
refusal, and .nir sources through the API and the CLI (inspect, compile with the NIR-based --check, loihi)."""

from __future__ import annotations

import itertools
from pathlib import Path

import nir
import numpy as np
import pytest
from click.testing import CliRunner

from snncompile import ir
from snncompile.api import compile as compile_model
from snncompile.cli import cli
from snncompile.errors import CompileError
from snncompile.frontend.nir.reader import NirReadOptions, read_nir
from snncompile.frontend.nir.reference import run_nir
from snncompile.ir.ops_ext import LIFExt
from snncompile.sim import simulate
from snncompile.targets import TARGETS

T, B = 20, 5


NIR = NirReadOptions(convention="nir")  # hand-written graphs: the NIR specification's semantics

def lif(n: int, tau: float = 1e-3, r: float | None = None, theta: float = 1.0, **kw: np.ndarray) -> nir.LIF:
    fields = {"tau": np.full(n, tau), "r": np.full(n, tau / 1e-4 if r is None else r), "v_leak": np.zeros(n),
              "v_threshold": np.full(n, theta), "v_reset": np.zeros(n)}
    return nir.LIF(**{**fields, **kw})


def chain(*nodes: nir.NIRNode, n_in: int = 6, metadata: dict | None = None, type_check: bool = True) -> nir.NIRGraph:
    names = [f"n{i}" for i in range(len(nodes))]
    out = nodes[-1].output_type.get("output")
    graph_nodes = {"input": nir.Input(np.array([n_in])), **dict(zip(names, nodes, strict=True)),
                   "output": nir.Output(np.array([1] if out is None else out))}
    path = ["input", *names, "output"]
    return nir.NIRGraph(nodes=graph_nodes, edges=list(itertools.pairwise(path)), metadata=metadata or {},
                        type_check=type_check)


def affine(n_out: int, n_in: int, seed: int = 0, scale: float = 1.0) -> nir.Affine:
    rng = np.random.default_rng(seed)
    return nir.Affine(rng.normal(0, scale, (n_out, n_in)), rng.normal(0.3, 0.1, n_out))


def write(graph: nir.NIRGraph, tmp_path: Path, name: str = "g.nir") -> Path:
    path = tmp_path / name
    nir.write(path, graph)
    return path


def x_in(n: int = 6, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, B, n)) < 0.4).astype(np.float64)


def test_nodes_against_the_nir_reference(tmp_path: Path) -> None:
    """LIF (per-neuron r), IF, CubaLIF, LI + Threshold, Delay and a 2-edge fan-in: IR sim == Euler reference."""
    n = 10
    cuba = nir.CubaLIF(tau_syn=np.full(n, 3e-4), tau_mem=np.full(n, 1e-3), r=np.linspace(5, 15, n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.full(n, 2.0))
    nodes = {"input": nir.Input(np.array([6])), "a": affine(n, 6, 1, 1.5), "lif": lif(n, r=np.linspace(5, 15, n)),
             "b": affine(n, n, 2), "d": nir.Delay(np.full(n, 2e-4)), "if": nir.IF(np.full(n, 1e4), np.ones(n)),
             "c": affine(n, n, 3), "cuba": cuba, "e": affine(n, n, 4),
             "li": nir.LI(np.full(n, 5e-4), np.full(n, 5.0), np.zeros(n)), "th": nir.Threshold(np.full(n, 0.8)),
             "output": nir.Output(np.array([n]))}
    edges = [("input", "a"), ("a", "lif"), ("lif", "b"), ("b", "d"), ("d", "if"), ("a", "if"), ("if", "c"),
             ("c", "cuba"), ("cuba", "e"), ("e", "li"), ("li", "th"), ("th", "output")]
    path = write(nir.NIRGraph(nodes, edges, metadata={"dt": 1e-4}), tmp_path)
    imported = read_nir(path, NIR)
    g = imported.graph
    assert isinstance(g.node("cuba"), LIFExt) and g.node("li").reset == "none"
    assert g.node("if").inputs == (ir.Edge("b", 2), ir.Edge("a"))
    x = x_in()
    ref = run_nir(imported.nir_graph, x, 1e-4, imported.convention)
    res = simulate(g, x)
    for node, spikes in (("lif", "lif"), ("if", "if"), ("cuba", "cuba"), ("li", "th")):
        assert res[node].sum() > 0.05 * res[node].size, node
        assert np.array_equal(res[node], ref[spikes]), node


def test_dt_comes_from_option_metadata_or_convention(tmp_path: Path) -> None:
    graph = chain(affine(4, 6), lif(4))
    path = write(graph, tmp_path)
    first = read_nir(path, NIR)
    assert first.dt == 1e-4 and [w.code for w in first.warnings] == ["SNC814"]
    assert [w.code for w in read_nir(path, NirReadOptions(convention="snntorch")).warnings] == ["SNC817"]
    assert read_nir(path, NirReadOptions(convention="snntorch", reset="zero")).warnings == []
    assert read_nir(path, NirReadOptions(dt=1e-3, convention="nir")).dt == 1e-3
    np.testing.assert_allclose(read_nir(path, NirReadOptions(dt=5e-4, convention="nir")).graph.node("n1").decay, 0.5)
    assert read_nir(path, NirReadOptions(convention="spikingjelly")).graph.node("n1").comparison == ">="
    with_meta = write(chain(affine(4, 6), lif(4), metadata={"dt": 2e-4, "timesteps": 7}), tmp_path, "m.nir")
    imported = read_nir(with_meta, NIR)
    assert imported.dt == 2e-4 and imported.graph.timesteps == 7 and not imported.warnings


def test_readout_option_and_batch_dims(tmp_path: Path) -> None:
    path = write(chain(affine(4, 6), lif(4), affine(3, 4)), tmp_path)
    assert isinstance(read_nir(path, NIR).graph.node("n2"), ir.Dense)
    assert isinstance(read_nir(path, NirReadOptions(readout=True, convention="nir")).graph.node("n2"), ir.Readout)
    batched = chain(affine(4, 6), lif(4), type_check=False)
    batched.nodes["input"] = nir.Input(np.array([1, 6]))  # norse keeps the batch dim
    assert read_nir(write(batched, tmp_path, "b.nir"), NIR).graph.node("input").shape == (6,)


def _refused(graph: nir.NIRGraph, tmp_path: Path, **options: object) -> list[str]:
    with pytest.raises(CompileError) as exc:
        read_nir(write(graph, tmp_path), NirReadOptions(**{"convention": "nir", **options}))  # type: ignore[arg-type]
    return exc.value.codes


def test_auto_convention_refuses_files_that_do_not_name_their_writer(tmp_path: Path) -> None:
    """Issue 14.9: norse, spikingjelly and snntorch write no marker; guessing one changes spike decisions."""
    path = write(chain(affine(4, 6), lif(4), metadata={"dt": 1e-4}), tmp_path)
    with pytest.raises(CompileError) as info:
        read_nir(path)
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC816" and diag.hint is not None
    assert all(name in diag.hint for name in ("nir", "snncompile", "snntorch", "spikingjelly", "norse"))


def test_refusals(tmp_path: Path) -> None:
    assert _refused(chain(affine(4, 6), lif(4, v_leak=np.ones(4))), tmp_path) == ["SNC812"]
    assert _refused(chain(affine(4, 6), nir.LI(np.ones(4), np.ones(4), np.zeros(4))), tmp_path) == ["SNC811"]
    conv1d = nir.Conv1d(6, np.ones((2, 1, 3)), 1, 0, 1, 1, np.zeros(2))
    assert _refused(chain(conv1d, n_in=1, type_check=False), tmp_path) == ["SNC811"]
    assert _refused(chain(affine(4, 6), nir.Delay(np.full(4, 1.5e-4)), lif(4)), tmp_path) == ["SNC812"]
    cyc = chain(affine(4, 6), lif(4), affine(4, 4))
    cyc.edges.append(("n2", "n1"))
    assert _refused(cyc, tmp_path) == ["SNC813"]
    sub = chain(affine(4, 6), lif(4))
    sub.nodes["n1"] = chain(lif(4), n_in=4)
    assert _refused(sub, tmp_path) == ["SNC813"]
    assert _refused(chain(affine(4, 6), lif(4)), tmp_path, convention="brian") == ["SNC806"]
    assert _refused(chain(affine(4, 6), lif(4)), tmp_path, reset="sideways") == ["SNC806"]
    (tmp_path / "junk.nir").write_text("not hdf5")
    with pytest.raises(CompileError, match="not a readable NIR file"):
        read_nir(tmp_path / "junk.nir", NIR)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_inspect_compile_and_check(tmp_path: Path) -> None:
    path = write(chain(affine(12, 6, scale=1.5), lif(12), affine(4, 12, 1), lif(4, theta=0.5),
                       metadata={"dt": 1e-4, "timesteps": 10}), tmp_path)
    code, out, _ = run("inspect", str(path), "--nir-convention", "nir")
    assert code == 0 and "%n1 = lif(%n0)" in out
    code, out, err = run(str(path), "--target", "sim", "-o", str(tmp_path / "sim"))
    assert code == 1 and "SNC816" in err and "snntorch" in err and not (tmp_path / "sim").exists()
    code, out, err = run(str(path), "--target", "sim", "--nir-convention", "nir", "-o", str(tmp_path / "sim"))
    assert code == 0, err
    assert "all layers identical" in out and (tmp_path / "sim" / "graph.json").is_file()
    code, out, err = run(str(path), "--target", "nir", "--nir-convention", "nir", "--nir-input-gain", "weights",
                         "-o", str(tmp_path / "nir"))
    assert code == 0, err
    assert float(nir.read(tmp_path / "nir" / "model.nir").nodes["n1"].r[0]) == pytest.approx(1.0)
    code, _, err = run(str(path), "--target", "sim", "--nir-convention", "brian")
    assert code == 2


@pytest.mark.skipif("loihi" not in TARGETS, reason="the loihi target is not registered")
def test_nir_file_compiles_for_loihi(tmp_path: Path) -> None:
    path = write(chain(affine(12, 6, scale=1.5), lif(12), affine(4, 12, 1), lif(4, theta=0.5),
                       metadata={"dt": 1e-4, "timesteps": 10}), tmp_path)
    result = compile_model(path, "loihi", tmp_path / "loihi", nir_convention="nir")
    assert (tmp_path / "loihi" / "network.net").is_file()
    assert [n.kind for n in result.graph.nodes if n.kind == "loihi_lif"] == ["loihi_lif", "loihi_lif"]
