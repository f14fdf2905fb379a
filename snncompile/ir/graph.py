"""The Graph value: topologically ordered frozen nodes, named outputs, metadata, and lookups."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeVar, overload

from snncompile.ir.base import Op, Shape

OpT = TypeVar("OpT", bound=Op)


@dataclass(frozen=True, eq=False)
class Graph:
    """An IR graph. A value: passes build new graphs and untouched nodes stay the same objects.

    `nodes` are in topological order of their zero-delay edges; `outputs` name the result nodes;
    `metadata` holds graph-wide facts such as `timesteps` (None: any T).
    """

    nodes: tuple[Op, ...]
    outputs: tuple[str, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def __reduce__(self) -> tuple[type[Graph], tuple[tuple[Op, ...], tuple[str, ...], dict[str, Any]]]:
        # pickled for verification worker processes: the read-only views and cached lookups are rebuilt there
        return (type(self), (self.nodes, self.outputs, dict(self.metadata)))

    def __iter__(self) -> Iterator[Op]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @cached_property
    def by_name(self) -> Mapping[str, Op]:
        return MappingProxyType({n.name: n for n in self.nodes})

    def node(self, name: str) -> Op:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    @cached_property
    def _consumers(self) -> Mapping[str, tuple[Op, ...]]:
        users: dict[str, list[Op]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for e in n.inputs:
                users.setdefault(e.src, []).append(n)
        return MappingProxyType({k: tuple(v) for k, v in users.items()})

    def consumers(self, name: str) -> tuple[Op, ...]:
        return self._consumers.get(name, ())

    @cached_property
    def shapes(self) -> Mapping[str, Shape]:
        """Per-sample output shape of every node. Raises ShapeError on an ill-shaped graph."""
        shapes: dict[str, Shape] = {}
        for n in self.nodes:
            shapes[n.name] = n.infer_shape([shapes[e.src] for e in n.inputs])
        return MappingProxyType(shapes)

    @overload
    def of_kind(self, kind: type[OpT], /) -> list[OpT]: ...

    @overload
    def of_kind(self, *kinds: type) -> list[Op]: ...

    def of_kind(self, *kinds: type) -> list[Any]:
        """Nodes that are instances of any of `kinds` (op classes or ir.traits categories)."""
        return [n for n in self.nodes if isinstance(n, kinds)]

    @property
    def timesteps(self) -> int | None:
        return self.metadata.get("timesteps")

    def with_nodes(self, nodes: Iterable[Op], outputs: Iterable[str] | None = None,
                   **metadata: Any) -> Graph:
        """A new graph with these nodes (re-sorted topologically), same metadata unless overridden."""
        meta = {**self.metadata, **metadata}
        return Graph(topological_sort(tuple(nodes)),
                     tuple(self.outputs if outputs is None else outputs), meta)


def topological_sort(nodes: tuple[Op, ...]) -> tuple[Op, ...]:
    """Stable topological order over zero-delay edges; nodes in a cycle are left at the end, in order,
    so the verifier can name them instead of this function looping or raising."""
    index = {n.name: n for n in nodes}
    placed: set[str] = set()
    order: list[Op] = []
    pending = list(nodes)
    progress = True
    while pending and progress:
        progress = False
        rest = []
        for n in pending:
            deps = [e.src for e in n.inputs if e.delay == 0 and e.src in index]
            if all(d in placed for d in deps):
                order.append(n)
                placed.add(n.name)
                progress = True
            else:
                rest.append(n)
        pending = rest
    return tuple(order + pending)
