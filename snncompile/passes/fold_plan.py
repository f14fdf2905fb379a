"""A fold's pending edits to one graph (replaced, copied and removed nodes), applied at once or discarded."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import numpy as np

from snncompile import ir
from snncompile.passes.rewrite import rewire

_COPY_SUFFIX = re.compile(r"_copy\d+$")


@dataclass
class Plan:
    """Edits against `graph`. A fold builds one plan; trying an alternative works on a `fork()` that is
    `adopt()`ed on success, so a failed attempt leaves nothing behind.

    nodes: replacement (existing name) or new node (copy) by name; anchors: copy name -> original it
    is placed after; removed: node -> edge its readers are rewired to; copies: (original, copy) names.
    """

    graph: ir.Graph
    nodes: dict[str, ir.Op] = field(default_factory=dict)
    anchors: dict[str, str] = field(default_factory=dict)
    removed: dict[str, ir.Edge] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    copies: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.taken |= set(self.graph.by_name)

    def fork(self) -> Plan:
        return copy.copy(self)._detached()

    def _detached(self) -> Plan:
        for name in ("nodes", "anchors", "removed", "taken", "notes", "copies", "counts"):
            setattr(self, name, copy.copy(getattr(self, name)))
        return self

    def adopt(self, other: Plan) -> None:
        self.__dict__.update(other.__dict__)

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def owned(self, name: str) -> bool:
        """True when the node's only reader is one edge and it is no graph output, so the reader's
        rewrite may change it in place."""
        return len(self.graph.consumers(name)) == 1 and name not in self.graph.outputs

    def fresh(self, name: str) -> str:
        base, k = _COPY_SUFFIX.sub("", name) + "_copy", 1
        while f"{base}{k}" in self.taken:
            k += 1
        self.taken.add(f"{base}{k}")
        return f"{base}{k}"

    def put(self, old: ir.Op, new: ir.Op) -> ir.Edge:
        """Record `new`: a replacement of `old`, or a copy when the names differ."""
        self.nodes[new.name] = new
        if new.name != old.name:
            self.anchors[new.name] = old.name
            self.copies.append((old.name, new.name))
        return ir.Edge(new.name)

    def emit(self, old: ir.Op, in_place: bool, **fields: object) -> ir.Edge:
        """`old` with changed fields, in place or as a fresh copy (same origin)."""
        name = old.name if in_place else self.fresh(old.name)
        return self.put(old, old.replace(name=name, **fields))

    def remove(self, name: str, replacement: ir.Edge) -> None:
        self.removed[name] = replacement

    def apply(self) -> ir.Graph:
        """The edited graph: copies placed right after their originals, readers of removed nodes
        rewired (delays added), outputs renamed."""
        after: dict[str, list[ir.Op]] = {}
        for name, anchor in self.anchors.items():
            after.setdefault(anchor, []).append(self.nodes[name])
        order: list[ir.Op] = []
        for n in self.graph.nodes:
            if n.name not in self.removed:
                order.append(self.nodes.get(n.name, n))
            order.extend(after.get(n.name, []))
        outputs = [self.removed[o].src if o in self.removed else o for o in self.graph.outputs]
        return self.graph.with_nodes(rewire(order, self.removed), outputs)


def original_name(name: str, graph: ir.Graph) -> str:
    """The node of `graph` that `name` is (a copy of)."""
    return name if name in graph else _COPY_SUFFIX.sub("", name)


def largest_change(old: ir.Op, new: ir.Op) -> float:
    """max |new − old| over the array fields both nodes have (a missing bias counts as 0, a missing gain as 1)."""
    if type(old) is not type(new):
        return 0.0
    worst = 0.0
    for name in old.array_fields():
        a, b = getattr(old, name), getattr(new, name)
        if a is None and b is None:
            continue
        missing = 1.0 if name == "gain" else 0.0
        a = np.full_like(b, missing) if a is None else a
        b = np.full_like(a, missing) if b is None else b
        if a.shape == b.shape and a.size:
            worst = max(worst, float(np.max(np.abs(b - a))))
    return worst
