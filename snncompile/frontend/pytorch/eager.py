"""Eager tracing of a model in its own input layout: [B, ...] repeated inside forward(), time-last, merged T·B.

The research code of the papers takes [B, C, H, W] and repeats it T times inside forward(), or keeps time on
the last axis ([B, ..., T]), or merges it into the batch axis ([T·B, ...], T-major), and its forward() often
branches on `len(x.shape)`. torch.fx cannot trace that, so these models are run once on a real input while

- every module with a converter is a leaf: its forward() runs untouched and its converter emits the IR, and
- every torch function between leaves is recorded (a TorchFunctionMode) with the role of each axis of each
  tensor: "T" time, "B" batch, "TB" both merged T-major, "F" a feature axis, "1" an inserted unit axis.

Reshapes, permutes and repeats that only move, merge or split the T and B axes are free (the IR is
per-sample and per-timestep); a reshape of all feature axes into one is ir.Flatten; `a + b` is ir.Add; a mean
over time (or a sum over time divided by T) at the output is the readout. Anything else that touches a
recorded tensor is SNC112 with the module path and the operation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from snncompile import ir
from snncompile.errors import CompileError, error
from snncompile.frontend.pytorch.converters import ConvertContext, find_converter, has_converter
from snncompile.frontend.pytorch.torch_nn import sequential
from snncompile.ir.traits import is_float_neuron

LAYOUTS: dict[str, str] = {
    "tb": "[T, B, ...]",
    "time_last": "[B, ..., T]",
    "merged": "[T·B, ...] (time-major)",
    "repeat": "[B, ...], repeated T times inside forward()",
}
_BATCH = 3  # the batch size of the tracing input; any B > 1 distinct from T works


def input_axes(layout: str, rank: int) -> tuple[str, ...]:
    features = ("F",) * rank
    return {"tb": ("T", "B", *features), "time_last": ("B", *features, "T"),
            "merged": ("TB", *features), "repeat": ("B", *features)}[layout]


def model_input(layout: str, x_tb: torch.Tensor) -> torch.Tensor:
    """The [T, B, ...] tensor `x_tb` in the model's own layout (for "repeat": its first step)."""
    steps, batch = x_tb.shape[:2]
    if layout == "time_last":
        return x_tb.permute(*range(1, x_tb.dim()), 0).contiguous()
    if layout == "merged":
        return x_tb.reshape(steps * batch, *x_tb.shape[2:])
    if layout == "repeat":
        return x_tb[0]
    return x_tb


def internal_layout(input_layout: str) -> str:
    """The layout neuron modules see: the input's, except that a repeated input gains a leading T axis."""
    return "tb" if input_layout == "repeat" else input_layout


def to_tb(layout: str, y: np.ndarray, steps: int) -> np.ndarray:
    """A neuron output recorded in the model's internal `layout`, as [T, B, ...]."""
    if layout == "time_last":
        return np.moveaxis(y, -1, 0)
    if layout == "merged":
        return y.reshape(steps, y.shape[0] // steps, *y.shape[1:])
    return y


@dataclass(frozen=True)
class Value:
    """A recorded tensor: the IR node holding it and the role of each of its axes."""
    name: str
    axes: tuple[str, ...]


@dataclass(frozen=True)
class TimeSlice:
    """x[t] (or rows t·B..(t+1)·B of a merged tensor): one timestep of `value`."""
    value: Value
    step: int


@dataclass(frozen=True)
class TimeSum:
    """A sum over the timesteps `steps` of `value`; `mean` once divided by T with all steps summed."""
    value: Value
    steps: frozenset[int]
    mean: bool = False


class _Zero:
    """A tensor made by torch.zeros outside any leaf (an accumulator of a hand-written time loop)."""


ZERO = _Zero()
Recorded = Value | TimeSlice | TimeSum | _Zero


@dataclass
class EagerResult:
    graph: ir.Graph
    reduction: str | None


class _Recorder(TorchFunctionMode):
    def __init__(self, tracer: EagerTracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        return self.tracer.on_function(func, args, kwargs, out)


def _flat(values: Any) -> list[Any]:
    if isinstance(values, (tuple, list)):
        return [v for x in values for v in _flat(x)]
    if isinstance(values, dict):
        return _flat(list(values.values()))
    return [values]


_IDENTITY = {"clone", "contiguous", "detach", "float", "double", "to", "type_as", "requires_grad_", "cpu"}
_ADD = {"add", "__add__", "__iadd__", "__radd__", "add_"}
_DIV = {"div", "__truediv__", "__itruediv__", "div_", "true_divide"}
_RESHAPE = {"view", "reshape", "flatten"}
_ZEROS = {"zeros", "zeros_like", "new_zeros"}


class EagerTracer:
    """Runs `model` once on an input in `layout` and records its IR (see the module docstring)."""

    def __init__(self, model: nn.Module, layout: str, steps: int) -> None:
        self.model, self.layout, self.steps = model, layout, steps
        self.ctx = ConvertContext()
        self.ctx.steps = steps
        self.values: dict[int, tuple[torch.Tensor, Recorded]] = {}  # keeps the tensors alive: ids stay unique
        self.paused = False
        self.where: list[str] = [""]

    # ---- bookkeeping
    def bind(self, tensor: Any, value: Recorded) -> None:
        if isinstance(tensor, torch.Tensor):
            self.values[id(tensor)] = (tensor, value)

    def lookup(self, tensor: Any) -> Recorded | None:
        hit = self.values.get(id(tensor))
        return hit[1] if hit is not None and hit[0] is tensor else None

    def refuse(self, what: str, hint: str = "") -> CompileError:
        path = self.where[-1]
        return error("SNC112", f"`{path or type(self.model).__name__}`: {what} (input layout "
                     f"{LAYOUTS[self.layout]}, T = {self.steps})", origin=path or None,
                     hint=hint or "between modules only these are understood: moving, merging or splitting "
                     "the T and B axes (view/reshape/permute/repeat), flattening all feature axes, a + b, and a "
                     "mean over time at the output; put other computation in a module with a converter")

    # ---- leaves
    def is_leaf(self, m: nn.Module) -> bool:
        if isinstance(m, (nn.ModuleList, nn.ModuleDict)):
            return False
        if isinstance(m, nn.Sequential) and find_converter(m) is sequential:
            return False
        return has_converter(m) or type(m).__module__.startswith("torch.nn")

    def call_leaf(self, m: nn.Module, path: str, forward: Callable[..., Any], args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        if self.paused:
            return forward(*args, **kwargs)
        tensors = [a for a in _flat((args, kwargs)) if isinstance(a, torch.Tensor)]
        values = [self.lookup(t) for t in tensors]
        self.paused = True
        try:
            out = forward(*args, **kwargs)
        finally:
            self.paused = False
        self.where.append(path)
        try:
            if not values or not all(isinstance(v, Value) for v in values):
                raise self.refuse(f"module {type(m).__qualname__} receives a tensor that is not a per-timestep "
                                  "value of the network (a time slice, a sum over time or a constant)")
            axes = values[0].axes  # type: ignore[union-attr]
            if any(v.axes != axes for v in values):  # type: ignore[union-attr]
                raise self.refuse("inputs in different layouts")
            lead = _lead(axes)
            trail = _lead(tuple(reversed(axes)))
            outer = self.ctx.batch_dims, self.ctx.axes
            self.ctx.batch_dims, self.ctx.axes = len(lead), axes
            self.paused = True  # a converter's own torch calls (its behaviour probe) are not the network's
            try:
                before = len(self.ctx.nodes)
                result = self.ctx.convert(m, path, [v.name for v in values])  # type: ignore[union-attr]
            finally:
                self.ctx.batch_dims, self.ctx.axes = outer
                self.paused = False
            if "T" not in axes and "TB" not in axes and any(
                    is_float_neuron(n) for n in self.ctx.nodes[before:]):
                raise self.refuse(f"neuron module {type(m).__qualname__} runs before the input has a time axis")
            outs = out if isinstance(out, (tuple, list)) else (out,)
            names = result if isinstance(result, tuple) else (result,)
            for tensor, name in zip(outs, names, strict=False):
                if isinstance(tensor, torch.Tensor) and name is not None:
                    rank = tensor.dim() - len(lead) - len(trail)
                    self._bind_checked(tensor, Value(name, lead + ("F",) * rank + trail), m)
            return out
        finally:
            self.where.pop()

    def _bind_checked(self, tensor: torch.Tensor, value: Value, m: nn.Module) -> None:
        features = tuple(s for s, a in zip(tensor.shape, value.axes, strict=False) if a == "F")
        if len(value.axes) != tensor.dim() or self.ctx.shape(value.name) != features:
            raise self.refuse(f"{type(m).__qualname__} returned shape {list(tensor.shape)} but its converter "
                              f"states per-sample shape {list(self.ctx.shape(value.name))}",
                              "the module does not act on the axes its converter assumes")
        self.bind(tensor, value)

    # ---- functions between leaves
    def on_function(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
        if self.paused:
            return out
        name = getattr(func, "__name__", str(func))
        looked_up = [(a, self.lookup(a)) for a in _flat((args, kwargs)) if isinstance(a, torch.Tensor)]
        recorded = [(a, v) for a, v in looked_up if v is not None]
        if name in _ZEROS:  # torch.zeros(...), zeros_like(x): an accumulator, whatever it was shaped after
            self.bind(out, ZERO)
            return out
        if not recorded:
            return out
        if not any(isinstance(o, torch.Tensor) for o in _flat(out)):
            return out  # shape, size, dim, numel...: metadata queries
        first = recorded[0][1]
        if name in _IDENTITY:
            self.bind(out, first)
        elif name in _ADD:
            self.bind(out, self._add(args, kwargs))
        elif name in _DIV:
            self.bind(out, self._div(first, args))
        elif name in ("mean", "sum"):
            self.bind(out, self._reduce_time(first, name, args, kwargs))
        elif name == "__getitem__":
            self.bind(out, self._slice(first, args[1]))
        elif name in _RESHAPE:
            self.bind(out, self._reshape(first, args[0].shape, out.shape))
        elif name == "permute":
            self.bind(out, self._permute(first, _dims(args[1:], kwargs)))
        elif name == "unsqueeze":
            self.bind(out, self._unsqueeze(first, int(args[1] if len(args) > 1 else kwargs["dim"]), args[0].dim()))
        elif name in ("repeat", "expand"):
            self.bind(out, self._repeat(first, args[0].shape, out.shape))
        else:
            raise self.refuse(f"`{name}` on a tensor of the network")
        return out

    def _value(self, v: Recorded | None, what: str) -> Value:
        if not isinstance(v, Value):
            raise self.refuse(f"{what} of a time slice, a sum over time or a constant")
        return v

    def _add(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Recorded:
        if len(args) != 2 or kwargs or not all(isinstance(a, torch.Tensor) for a in args):
            raise self.refuse("`add` with a scalar, alpha or out=")
        a, b = (self.lookup(x) for x in args)
        if a is ZERO or b is ZERO:
            other = b if a is ZERO else a
            if isinstance(other, TimeSlice):
                return TimeSum(other.value, frozenset({other.step}))
            if other is None:
                raise self.refuse("`+` of a constant and an untracked tensor")
            return other
        if isinstance(a, TimeSum) and isinstance(b, TimeSlice) and a.value == b.value and not a.mean:
            return TimeSum(a.value, a.steps | {b.step})
        va, vb = self._value(a, "`+`"), self._value(b, "`+`")
        if _lead(va.axes) != _lead(vb.axes) or len(va.axes) != len(vb.axes):
            raise self.refuse(f"`+` of tensors in different layouts {va.axes} and {vb.axes}")
        return Value(self.ctx.add(ir.Add, [va.name, vb.name], self.where[-1] + ".add" if self.where[-1] else "add"),
                     va.axes)

    def _div(self, first: Recorded, args: tuple[Any, ...]) -> Recorded:
        divisor = args[1] if len(args) > 1 else None
        if isinstance(first, TimeSum) and not first.mean and isinstance(divisor, (int, float)) \
                and float(divisor) == float(self.steps) and len(first.steps) == self.steps:
            return TimeSum(first.value, first.steps, mean=True)
        raise self.refuse("division of a network tensor (only a sum over all T timesteps divided by T is "
                          "understood, as the mean over time)")

    def _reduce_time(self, first: Recorded, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Recorded:
        v = self._value(first, f"`{name}`")
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        if len(dims) != 1 or v.axes[dims[0] % len(v.axes)] != "T" or kwargs.get("keepdim") or len(args) > 2:
            raise self.refuse(f"`{name}` over axes {dims} of a tensor with axes {v.axes} (only over the time axis)")
        axis = dims[0] % len(v.axes)
        rest = Value(v.name, v.axes[:axis] + v.axes[axis + 1:])
        return TimeSum(rest, frozenset(range(self.steps)), mean=name == "mean")

    def _slice(self, first: Recorded, index: Any) -> Recorded:
        v = self._value(first, "indexing")
        index = index if isinstance(index, tuple) else (index,)
        head, rest = index[0], index[1:]
        if any(r is not Ellipsis and r != slice(None) for r in rest):
            raise self.refuse(f"indexing {index} (only one timestep is taken from a network tensor)")
        if v.axes[0] == "T" and isinstance(head, int):
            return TimeSlice(Value(v.name, v.axes[1:]), head % self.steps)
        if v.axes[0] == "TB" and isinstance(head, slice) and head.step in (None, 1):
            batch = _BATCH
            start, stop = head.start or 0, head.stop
            if stop is not None and start % batch == 0 and stop - start == batch:
                return TimeSlice(Value(v.name, ("B", *v.axes[1:])), start // batch)
        raise self.refuse(f"indexing {index} of a tensor with axes {v.axes}")

    def _permute(self, first: Recorded, dims: list[int]) -> Value:
        v = self._value(first, "permute")
        axes = tuple(v.axes[d] for d in dims)
        features = [d for d in dims if v.axes[d] == "F"]
        if features != sorted(features):
            raise self.refuse(f"permute {dims} reorders the feature axes of a tensor with axes {v.axes}")
        return Value(v.name, axes)

    def _unsqueeze(self, first: Recorded, dim: int, rank: int) -> Value:
        v = self._value(first, "unsqueeze")
        dim = dim % (rank + 1)
        return Value(v.name, (*v.axes[:dim], "1", *v.axes[dim:]))

    def _repeat(self, first: Recorded, old: torch.Size, new: torch.Size) -> Value:
        """Copies of a time-constant tensor along a new T axis (or tiled T-major over the batch axis)."""
        v = self._value(first, "repeat")
        if "T" in v.axes or "TB" in v.axes:
            raise self.refuse(f"repeat/expand of a tensor that already has a time axis ({v.axes})")
        axes = ("1",) * (len(new) - len(old)) + v.axes
        sizes = (1,) * (len(new) - len(old)) + tuple(old)
        out = []
        for tag, before, after in zip(axes, sizes, new, strict=False):
            if before == after:
                out.append(tag)
            elif tag == "1" and after == self.steps:
                out.append("T")
            elif tag == "B" and after == before * self.steps:
                out.append("TB")
            else:
                raise self.refuse(f"repeat/expand from {list(old)} to {list(new)} (only T copies of the input)")
        if out.count("T") + out.count("TB") != 1:
            raise self.refuse(f"repeat/expand from {list(old)} to {list(new)} (only T copies of the input)")
        return Value(v.name, tuple(out))

    def _reshape(self, first: Recorded, old: torch.Size, new: torch.Size) -> Value:
        v = self._value(first, "reshape")
        groups = _groups(tuple(old), tuple(new))
        if groups is None:
            raise self.refuse(f"reshape from {list(old)} to {list(new)}")
        axes: list[str] = []
        flatten = False
        for (i0, i1), (j0, j1) in groups:
            tags, sizes = v.axes[i0:i1], tuple(new[j0:j1])
            real = tuple(t for t in tags if t != "1")
            if real and all(t == "F" for t in real):
                if len(sizes) == 1 and len(tags) > 1:
                    if real.count("F") != v.axes.count("F"):
                        raise self.refuse(f"reshape from {list(old)} to {list(new)} flattens only some feature axes")
                    flatten = True
                elif len(sizes) != len(tags):
                    raise self.refuse(f"reshape from {list(old)} to {list(new)} splits feature axes")
                axes.extend(["F"] * len(sizes))
            elif real == ("T", "B") and len(sizes) == 1:
                axes.append("TB")
            elif real == ("TB",) and sizes == (self.steps, sizes[-1]) and len(sizes) == 2:
                axes.extend(["T", "B"])
            elif len(real) == 1 and len(sizes) == 1:
                axes.append(real[0])
            elif not real:
                axes.extend(["1"] * len(sizes))
            else:
                raise self.refuse(f"reshape from {list(old)} to {list(new)} mixes axes {tags}")
        if not flatten:
            return Value(v.name, tuple(axes))
        origin = f"{self.where[-1]}.flatten" if self.where[-1] else "flatten"
        return Value(self.ctx.add(ir.Flatten, [v.name], origin), tuple(axes))

    # ---- the run
    @contextmanager
    def _patched(self) -> Iterator[None]:
        patched: list[nn.Module] = []
        seen: set[int] = set()

        def patch(module: nn.Module, path: str, inside_leaf: bool) -> None:
            if id(module) in seen:
                return
            seen.add(id(module))
            leaf = not inside_leaf and self.is_leaf(module)
            forward = module.forward
            wrapped: Callable[..., Any]
            if leaf:
                def leaf_forward(*a: Any, _m: nn.Module = module, _p: str = path, _f: Any = forward, **k: Any) -> Any:
                    return self.call_leaf(_m, _p, _f, a, k)
                wrapped = leaf_forward
            else:
                def scoped_forward(*a: Any, _p: str = path, _f: Any = forward, **k: Any) -> Any:
                    self.where.append(_p)
                    try:
                        return _f(*a, **k)
                    finally:
                        self.where.pop()
                wrapped = scoped_forward
            module.forward = wrapped
            patched.append(module)
            for child_name, child in module.named_children():
                patch(child, f"{path}.{child_name}" if path else child_name, inside_leaf or leaf)

        patch(self.model, "", False)
        try:
            yield
        finally:
            for module in patched:
                del module.forward

    def run(self, input_shape: tuple[int, ...]) -> EagerResult:
        steps, rank = self.steps, len(input_shape)
        shape = {"tb": (steps, _BATCH, *input_shape), "time_last": (_BATCH, *input_shape, steps),
                 "merged": (steps * _BATCH, *input_shape), "repeat": (_BATCH, *input_shape)}[self.layout]
        param = next(iter(self.model.parameters()), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
        name = self.ctx.add(ir.Input, [], "input", name="input", shape=tuple(input_shape))
        self.bind(x, Value(name, input_axes(self.layout, rank)))
        with torch.no_grad(), self._patched(), _Recorder(self):
            try:
                out = self.model(x)
            except CompileError:
                raise
            except Exception as exc:
                raise error("SNC107", f"running {type(self.model).__name__} on a {list(shape)} input "
                            f"({LAYOUTS[self.layout]}) failed: {type(exc).__name__}: {exc}",
                            hint="check --layout, --input-shape and --timesteps against the model's forward()"
                            ) from None
        while isinstance(out, (tuple, list)):
            out = out[0]
        return self._finish(self.lookup(out))

    def _finish(self, result: Recorded | None) -> EagerResult:
        if isinstance(result, Value):
            if not any(a in ("T", "TB") for a in result.axes):
                raise self.refuse("the output has no time axis")
            return EagerResult(self._graph(result.name, None), None)
        if isinstance(result, TimeSum) and len(result.steps) == self.steps:
            node = self.ctx.nodes[-1]
            if result.mean and isinstance(node, ir.Dense) and node.name == result.value.name:
                # mean over T of W·x[t] + b: the readout op (runs on the host on Loihi)
                self.ctx.nodes[-1] = ir.Readout(name=node.name, inputs=node.inputs, origin=node.origin,
                                                weight=node.weight, bias=node.bias)
                return EagerResult(self._graph(node.name, None), None)
            return EagerResult(self._graph(result.value.name, "mean" if result.mean else "sum"),
                               "mean" if result.mean else "sum")
        raise self.refuse("the model's output is not a tensor of the network (or a sum/mean over all timesteps)")

    def _graph(self, output: str, reduction: str | None) -> ir.Graph:
        meta: dict[str, Any] = {"timesteps": self.steps, "input_layout": self.layout}
        if reduction is not None:
            meta["output_over_time"] = reduction
        graph = ir.Graph(tuple(self.ctx.nodes), (output,), meta)
        ir.verify_or_raise(graph)
        return graph


def _lead(axes: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for a in axes:
        if a == "F":
            break
        out.append(a)
    return tuple(out)


def _dims(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[int]:
    if "dims" in kwargs:
        return list(kwargs["dims"])
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return list(args[0])
    return [int(a) for a in args]


def _groups(old: tuple[int, ...], new: tuple[int, ...]
            ) -> list[tuple[tuple[int, int], tuple[int, int]]] | None:
    """Contiguous groups of old and new axes with equal products (size-1 axes join the group before them)."""
    groups = []
    i = j = 0
    while i < len(old) or j < len(new):
        i0, j0 = i, j
        p = old[i] if i < len(old) else 1
        q = new[j] if j < len(new) else 1
        i, j = min(i + 1, len(old)), min(j + 1, len(new))
        while p != q:
            if p < q and i < len(old):
                p, i = p * old[i], i + 1
            elif q < p and j < len(new):
                q, j = q * new[j], j + 1
            else:
                return None
        while i < len(old) and old[i] == 1 and (j >= len(new) or new[j] != 1):
            i += 1
        while j < len(new) and new[j] == 1 and (i >= len(old) or old[i] != 1):
            j += 1
        groups.append(((i0, i), (j0, j)))
        if i0 == i and j0 == j:
            return None
    return groups if math.prod(old) == math.prod(new) else None


def trace_eager(model: nn.Module, input_shape: tuple[int, ...], steps: int, layout: str) -> EagerResult:
    """Trace `model` whose forward() takes its input in `layout` (a key of LAYOUTS) over `steps` timesteps."""
    if layout not in LAYOUTS:
        raise error("SNC112", f"unknown input layout {layout!r}", hint="one of: " + ", ".join(LAYOUTS))
    return EagerTracer(model.eval(), layout, steps).run(input_shape)
