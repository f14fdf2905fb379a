"""Graph <-> JSON (structure, options) + npz (arrays), derived from the op dataclass fields."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.fsmode import as_created
from snncompile.ir.base import OP_REGISTRY, Edge, Op
from snncompile.ir.graph import Graph

FORMAT_VERSION = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _from_json(value: Any) -> Any:
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def to_dicts(graph: Graph) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON document and the named arrays (`node.field`) that together describe `graph`."""
    arrays: dict[str, np.ndarray] = {}
    nodes = []
    for n in graph.nodes:
        attrs = {f: _jsonable(getattr(n, f)) for f in n.attribute_fields()}
        present = []
        for f in n.array_fields():
            value = getattr(n, f)
            if value is not None:
                arrays[f"{n.name}.{f}"] = value
                present.append(f)
        nodes.append({
            "name": n.name, "kind": n.kind, "origin": n.origin,
            "inputs": [[e.src, e.delay] for e in n.inputs],
            "attrs": attrs, "arrays": present,
        })
    doc = {"format": "snncompile-ir", "version": FORMAT_VERSION, "nodes": nodes,
           "outputs": list(graph.outputs),
           "metadata": {k: _jsonable(v) for k, v in graph.metadata.items()}}
    return doc, arrays


def from_dicts(doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> Graph:
    if doc.get("format") != "snncompile-ir" or doc.get("version") != FORMAT_VERSION:
        raise ValueError("not an snncompile IR document of a supported version")
    nodes: list[Op] = []
    for d in doc["nodes"]:
        cls = OP_REGISTRY[d["kind"]]
        kwargs = {k: _from_json(v) for k, v in d["attrs"].items()}
        for f in cls.array_fields():
            kwargs[f] = arrays[f"{d['name']}.{f}"] if f in d["arrays"] else None
        inputs = tuple(Edge(src, delay) for src, delay in d["inputs"])
        nodes.append(cls(name=d["name"], inputs=inputs, origin=d["origin"], **kwargs))
    metadata = {k: _from_json(v) for k, v in doc.get("metadata", {}).items()}
    return Graph(tuple(nodes), tuple(doc["outputs"]), metadata)


def save(graph: Graph, directory: str | os.PathLike[str], stem: str = "graph") -> tuple[Path, Path]:
    """Write `stem.json` and `stem.npz` into `directory`, each atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc, arrays = to_dicts(graph)
    json_path, npz_path = directory / f"{stem}.json", directory / f"{stem}.npz"
    _atomic_write(npz_path, lambda f: np.savez_compressed(f, **arrays))  # type: ignore[arg-type]  # numpy stub: **kwds checked against allow_pickle: bool
    _atomic_write(json_path, lambda f: f.write(json.dumps(doc, indent=1, sort_keys=True).encode()))
    return json_path, npz_path


def load(directory: str | os.PathLike[str], stem: str = "graph") -> Graph:
    directory = Path(directory)
    doc = json.loads((directory / f"{stem}.json").read_text())
    with np.load(directory / f"{stem}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return from_dicts(doc, arrays)


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        as_created(tmp)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
