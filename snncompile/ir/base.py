"""The IR's building blocks: edges, the frozen Op base class, and its array-field handling."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

Shape = tuple[int, ...]
"""Per-sample shape of a tensor; the time and batch axes are implicit."""


@dataclass(frozen=True)
class Edge:
    """A connection from node `src`; `delay` timesteps late (0 = same step)."""

    src: str
    delay: int = 0


OP_REGISTRY: dict[str, type[Op]] = {}
"""Every concrete op class by its `kind`; filled as op classes are defined (used by deserialization)."""


class ShapeError(ValueError):
    """An op cannot accept the shapes of its inputs."""


def frozen_array(value: Any) -> np.ndarray:
    """Copy to a read-only float64 array so frozen nodes are immutable all the way down."""
    arr = np.array(value, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Op:
    """Base of all IR nodes. Subclasses set `kind` and `arity` and add their parameters as fields.

    Array fields (annotated `np.ndarray`) are stored read-only in float64. Nodes compare by
    identity, so a pass that leaves a node alone keeps the very same object. The fields named in
    `granular` (field -> leading axes kept, e.g. a threshold's level axis) are per-neuron parameters stored
    at their natural granularity: each axis along which the value is constant is kept with size 1
    (`compact_param`), so a per-channel threshold of a [C, H, W] layer is [C, 1, 1] and a per-layer decay
    [1, 1, 1]; users broadcast them (`expand_param`) where they need one value per neuron.
    """

    name: str
    inputs: tuple[Edge, ...]
    origin: str = ""

    kind: ClassVar[str] = "op"
    arity: ClassVar[int | None] = 1  # None means one or more inputs
    granular: ClassVar[dict[str, int]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            if cls.kind in OP_REGISTRY and OP_REGISTRY[cls.kind].__qualname__ != cls.__qualname__:
                raise TypeError(f"IR op kind {cls.kind!r} is defined twice")
            OP_REGISTRY[cls.kind] = cls

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(
            e if isinstance(e, Edge) else Edge(e) for e in self.inputs))
        for name in self.array_fields():
            value = getattr(self, name)
            if value is not None:
                value = frozen_array(value)
                if name in self.granular:
                    value = compact_param(value, self.granular[name])
                object.__setattr__(self, name, value)

    @classmethod
    def array_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if "ndarray" in str(f.type))

    @classmethod
    def attribute_fields(cls) -> tuple[str, ...]:
        skip = {"name", "inputs", "origin", *cls.array_fields()}
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        """Output shape for the given input shapes; raise ShapeError if they do not fit."""
        raise NotImplementedError

    def check(self, in_shapes: list[Shape]) -> list[str]:
        """Parameter problems beyond shapes (non-finite values, bad options); empty if fine."""
        problems = []
        for f in dataclasses.fields(self):
            if f.name in self.array_fields() and getattr(self, f.name) is None and "None" not in str(f.type):
                problems.append(f"`{f.name}` is missing")  # a required (non-Optional) array
        for name in self.array_fields():
            value = getattr(self, name)
            if value is not None and not np.all(np.isfinite(value)):
                problems.append(f"`{name}` has non-finite values")
        for name in self.attribute_fields():
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"`{name}` is not finite ({value})")
        return problems

    def summary(self) -> str:
        """Short attribute text for the printer: options and parameter shapes, never values."""
        parts = []
        for name in self.attribute_fields():
            parts.append(f"{name}={_fmt(getattr(self, name))}")
        for name in self.array_fields():
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}:{_fmt_shape(value.shape)}")
        return ", ".join(parts)

    def replace(self, **changes: Any) -> Op:
        return dataclasses.replace(self, **changes)


def compact_param(value: np.ndarray, lead: int = 0) -> np.ndarray:
    """`value` with every axis after the first `lead` along which it is constant reduced to size 1 (read-only):
    the natural granularity of a per-neuron parameter (per layer, per channel, per row or per neuron)."""
    out = value
    for axis in range(lead, value.ndim):
        if out.shape[axis] > 1:
            first = np.take(out, [0], axis=axis)
            if np.array_equal(out, np.broadcast_to(first, out.shape)):
                out = first
    if out is not value:
        out = np.ascontiguousarray(out)
        out.setflags(write=False)
    return out


def param_fits(got: Shape, shape: Shape) -> bool:
    """A granular parameter of a population of `shape`: the same rank, each axis 1 or the population's size."""
    return len(got) == len(shape) and all(g in (1, s) for g, s in zip(got, shape, strict=True))


def expand_param(value: np.ndarray, shape: Shape) -> np.ndarray:
    """One value per neuron: a read-only broadcast view of a granular parameter (no copy)."""
    return np.broadcast_to(value, tuple(shape))


def _fmt_shape(shape: Shape) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return "(" + ",".join(_fmt(v) for v in value) + ")"
    return str(value)


def bias_problems(weight: np.ndarray, bias: np.ndarray | None, unit: str) -> list[str]:
    """A bias must hold one value per output row (dense, readout) or channel (conv)."""
    if bias is None or bias.shape == (weight.shape[0],):
        return []
    return [f"bias {list(bias.shape)} does not match {weight.shape[0]} {unit}"]


def expect_one_shape(op: Op, in_shapes: list[Shape], rank: int | None = None) -> Shape:
    """The single input shape of a unary op, checked against an expected rank."""
    (shape,) = in_shapes
    if rank is not None and len(shape) != rank:
        raise ShapeError(f"{op.kind} expects a rank-{rank} input, got {_fmt_shape(shape)}")
    return shape
