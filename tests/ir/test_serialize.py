"""JSON + npz serialization round-trips every op kind: identical printed text and identical arrays."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snncompile import ir
from snncompile.ir import serialize


def assert_same_graph(a: ir.Graph, b: ir.Graph) -> None:
    assert ir.print_graph(a) == ir.print_graph(b)
    assert a.outputs == b.outputs and dict(a.metadata) == dict(b.metadata)
    assert [type(n) for n in a.nodes] == [type(n) for n in b.nodes]
    for x, y in zip(a.nodes, b.nodes, strict=True):
        assert (x.name, x.inputs, x.origin) == (y.name, y.inputs, y.origin)
        for f in x.attribute_fields():
            assert getattr(x, f) == getattr(y, f), f"{x.name}.{f}"
            assert type(getattr(x, f)) is type(getattr(y, f)), f"{x.name}.{f}"
        for f in x.array_fields():
            va, vb = getattr(x, f), getattr(y, f)
            if va is None:
                assert vb is None, f"{x.name}.{f}"
            else:
                assert va.dtype == vb.dtype and va.shape == vb.shape and np.array_equal(va, vb), f"{x.name}.{f}"
                assert not vb.flags.writeable


def generic_node(cls: type[ir.Op], rng: np.random.Generator) -> ir.Op:
    """Any op kind with random arrays and default options (serialization does not need a valid graph)."""
    arrays = {f: rng.normal(size=(2, 3)) for f in cls.array_fields()}
    return cls(name=f"generic_{cls.kind}", inputs=(ir.Edge("input", 1),), origin=f"generic.{cls.kind}", **arrays)


def test_round_trip_every_op_kind(tmp_path: Path, kit: Any) -> None:
    graph = kit.all_ops()
    covered = {n.kind for n in graph.nodes}
    rng = np.random.default_rng(0)
    extra = [generic_node(cls, rng) for kind, cls in sorted(ir.OP_REGISTRY.items()) if kind not in covered]
    graph = ir.Graph(graph.nodes + tuple(extra), graph.outputs, graph.metadata)
    assert {n.kind for n in graph.nodes} == set(ir.OP_REGISTRY)
    json_path, npz_path = serialize.save(graph, tmp_path)
    assert json_path == tmp_path / "graph.json" and npz_path.exists()
    assert_same_graph(graph, serialize.load(tmp_path))


def test_round_trip_of_the_whole_example_graph_verifies(tmp_path: Path, kit: Any) -> None:
    graph = kit.all_ops()
    serialize.save(graph, tmp_path / "nested" / "dir", stem="model")
    loaded = serialize.load(tmp_path / "nested" / "dir", stem="model")
    assert ir.verify(loaded) == []
    assert_same_graph(graph, loaded)


def test_in_memory_round_trip_preserves_types(kit: Any) -> None:
    graph = kit.all_ops()
    doc, arrays = serialize.to_dicts(graph)
    doc = json.loads(json.dumps(doc))  # what is on disk
    loaded = serialize.from_dicts(doc, arrays)
    assert_same_graph(graph, loaded)
    conv = loaded.node("conv")
    assert isinstance(conv, ir.Conv2d) and conv.padding == (1, 1) and isinstance(conv.padding, tuple)
    assert loaded.node("input").shape == (2, 6, 6)  # type: ignore[attr-defined]


def test_json_is_readable_and_names_arrays(kit: Any) -> None:
    doc, arrays = serialize.to_dicts(kit.all_ops())
    assert doc["format"] == "snncompile-ir" and doc["version"] == serialize.FORMAT_VERSION
    fc = next(d for d in doc["nodes"] if d["name"] == "fc")
    assert fc["arrays"] == ["weight"] and "fc.bias" not in arrays  # absent optional array stays absent
    assert set(arrays) >= {"conv.weight", "mlf.gain", "readout.bias"}


def test_rejects_foreign_documents() -> None:
    with pytest.raises(ValueError, match="snncompile IR"):
        serialize.from_dicts({"format": "other", "version": 1, "nodes": [], "outputs": []}, {})
    with pytest.raises(ValueError, match="snncompile IR"):
        serialize.from_dicts({"format": "snncompile-ir", "version": 999, "nodes": [], "outputs": []}, {})


def test_save_leaves_no_temporary_files(tmp_path: Path, kit: Any) -> None:
    serialize.save(kit.all_ops(), tmp_path)
    serialize.save(kit.all_ops(seed=1), tmp_path)  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.json", "graph.npz"]
    assert np.array_equal(serialize.load(tmp_path).node("conv").weight, kit.all_ops(seed=1).node("conv").weight)


def test_generic_nodes_are_frozen() -> None:
    node = generic_node(ir.Dense, np.random.default_rng(0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.origin = "x"  # type: ignore[misc]


def test_metadata_round_trips_tuples_and_numpy_scalars(tmp_path: Path) -> None:
    meta = {"timesteps": np.int64(4), "input_shape": (1, 8, 8), "dt": np.float64(0.5), "name": "net"}
    graph = ir.Graph((ir.Input("input", (), shape=(3,)),), ("input",), meta)
    serialize.save(graph, tmp_path)
    loaded = serialize.load(tmp_path)
    assert dict(loaded.metadata) == {"timesteps": 4, "input_shape": (1, 8, 8), "dt": 0.5, "name": "net"}
    assert isinstance(loaded.metadata["input_shape"], tuple)
    assert ir.print_graph(loaded) == ir.print_graph(graph)
