"""Recognizing the papers' module classes by name: structure checks, layout checks and a behaviour probe.

The papers' repositories are not installable, so their classes live in the user's own modules
(`models/spike_layer.py`, `layers.py`, ...). A converter registered by class name first verifies the
attributes it reads, then runs the module itself on a probe input and compares it with the IR it emits;
a class that has the name but not the behaviour is refused (SNC703) instead of compiled wrongly.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import torch
from torch import nn

from snncompile import ir
from snncompile.errors import CompileError, error
from snncompile.frontend.pytorch.converters import ConvertContext, register_named_converter

Builder = Callable[[ConvertContext, list[str]], str]
T = TypeVar("T")


def qualified(m: nn.Module) -> str:
    cls = type(m)
    return f"{cls.__module__}.{cls.__qualname__}"


def mismatch(path: str, m: nn.Module, repo: str, what: str) -> CompileError:
    return error("SNC703", f"`{path}` ({qualified(m)}) is named like {repo}'s {type(m).__qualname__} but {what}",
                 origin=path, hint=f"if it is not {repo}'s module, register a converter for {type(m).__qualname__} "
                 "(snncompile.register_converter, docs/CONVERTERS.md) or load one with --converters; see "
                 "docs/PAPERS.md for the forms that compile")


def not_compilable(path: str, m: nn.Module, what: str, hint: str) -> CompileError:
    return error("SNC704", f"`{path}` ({qualified(m)}): {what}", origin=path, hint=hint)


def require(m: nn.Module, path: str, repo: str, attributes: dict[str, type | tuple[type, ...]]) -> None:
    """The attributes a converter reads exist with the expected types."""
    for name, kinds in attributes.items():
        if not isinstance(getattr(m, name, None), kinds):
            names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
            raise mismatch(path, m, repo, f"has no attribute `{name}` of type {names}")


def attr(m: nn.Module, name: str, kind: type[T]) -> T:
    """m.<name> typed as `kind`, for an attribute require() has checked (torch types module attributes as
    Tensor | Module)."""
    return cast(T, getattr(m, name))


def constants(m: nn.Module, path: str, repo: str, names: tuple[str, ...]) -> dict[str, float]:
    """Module-level constants of the file defining the class (the repositories keep VTH, TAU, ... there)."""
    scope = vars(sys.modules[type(m).__module__]) if type(m).__module__ in sys.modules else {}
    missing = [n for n in names if not isinstance(scope.get(n), (int, float))]
    if missing:
        raise mismatch(path, m, repo, f"its module {type(m).__module__} defines no number "
                       + ", ".join(missing))
    return {n: float(scope[n]) for n in names}


def need_axes(ctx: ConvertContext, path: str, m: nn.Module, repo: str, lead: tuple[str, ...], last: str | None,
              layout: str) -> tuple[str, ...]:
    """The module sees the layout its repository uses (set by the eager tracer); else SNC112."""
    axes = ctx.axes if ctx.axes is not None else (("T", "B", "F") if ctx.batch_dims == 2 else ("TB", "F"))
    ok = axes[:len(lead)] == lead and (last is None or axes[-1] == last)
    if not ok:
        raise error("SNC112", f"`{path}` ({qualified(m)}) expects {layout} as in {repo}, but receives a tensor "
                    f"with axes {axes}", origin=path,
                    hint="pass --layout to name the model's input layout (see docs/PAPERS.md)")
    return axes


def check_steps(ctx: ConvertContext, path: str, m: nn.Module, steps: int) -> None:
    if ctx.steps is not None and steps != ctx.steps:
        raise not_compilable(path, m, f"runs {steps} timesteps but the model is traced with T = {ctx.steps}",
                             f"pass --timesteps {steps}")


def _graph_of(builder: Builder, shape: tuple[int, ...], steps: int) -> tuple[ir.Graph, str]:
    ctx = ConvertContext()
    ctx.steps = steps
    inp = ctx.add(ir.Input, [], "input", name="input", shape=shape)
    out = builder(ctx, [inp])
    return ir.Graph(tuple(ctx.nodes), (out,), {"timesteps": steps}), out


PROBE_SCALES = (1.0, 0.5, 0.25, 0.125)


def probe_input(shape: tuple[int, ...], steps: int, scale: float, seed: int = 0) -> torch.Tensor:
    """[T, 4, *shape] float64 values in (−0.5 .. 2)·scale·k, k = 1, 1/2, 1/4, 1/8 per sample: strong inputs
    reach every threshold at once, weak ones only by integrating, which exposes the decay and the reset."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.tensor(PROBE_SCALES, dtype=torch.float64).reshape(1, -1, *([1] * len(shape)))
    return (torch.rand((steps, len(PROBE_SCALES), *shape), generator=gen, dtype=torch.float64) * 2.5 - 0.5) * scale * k


def probe(m: nn.Module, path: str, repo: str, builder: Builder, shape: tuple[int, ...], steps: int,
          to_model: Callable[[torch.Tensor], torch.Tensor], from_model: Callable[[torch.Tensor], torch.Tensor],
          scale: float = 1.0, exact: bool = True, what: str = "") -> None:
    """Run a float64 copy of `m` on a probe input in its own layout and the IR from `builder` on the same
    input; refuse (SNC703) if they differ: spikes must agree exactly, values (exact=False) to 1e-9."""
    from snncompile.sim import simulate  # the simulator imports the frontend's op tables

    x = probe_input(shape, steps, scale)
    twin = copy.deepcopy(m).double().eval()
    for sub in twin.modules():  # a tracer may have wrapped forward() on the instances: run the class's own
        sub.__dict__.pop("forward", None)
    try:
        with torch.no_grad():
            got = from_model(_first(twin(to_model(x)))).double().numpy()
    except Exception as exc:
        raise mismatch(path, m, repo, f"fails on a {list(to_model(x).shape)} probe input: "
                       f"{type(exc).__name__}: {exc}") from None
    graph, out = _graph_of(builder, shape, steps)
    want = simulate(graph, x, dtype=torch.float64)[out]
    if got.shape != want.shape:
        raise mismatch(path, m, repo, f"returns shape {list(got.shape)} on a probe where {list(want.shape)} "
                       "was expected")
    bad = int(np.sum(got != want)) if exact else int(np.sum(~np.isclose(got, want, rtol=1e-9, atol=1e-9)))
    if bad:
        raise mismatch(path, m, repo, f"does not behave as {what or 'expected'}: {bad} of {got.size} outputs "
                       "differ on a probe input")


def matches(m: nn.Module, builder: Builder, shape: tuple[int, ...], steps: int,
            to_model: Callable[[torch.Tensor], torch.Tensor],
            from_model: Callable[[torch.Tensor], torch.Tensor], scale: float = 1.0) -> bool:
    """Whether the probe agrees (for choosing between variants of a module, e.g. MLF with K = 2 or 3)."""
    try:
        probe(m, "", "", builder, shape, steps, to_model, from_model, scale)
    except CompileError:
        return False
    return True


def _first(out: Any) -> torch.Tensor:
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def channel(values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A per-channel vector as (C, 1, ...) for a (C, ...) sample."""
    vec = np.asarray(values, dtype=np.float64).reshape(-1)
    return vec.reshape((-1,) + (1,) * (len(shape) - 1))


def full(value: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, float(value), dtype=np.float64)


def np64(t: Any) -> np.ndarray:
    return torch.as_tensor(t).detach().cpu().double().numpy()


def bn_stats(bn: nn.modules.batchnorm._BatchNorm, path: str, m: nn.Module) -> dict[str, Any]:
    """Running statistics and affine parameters of a torch BN as ir.BatchNorm fields."""
    if bn.running_mean is None or bn.running_var is None:
        raise not_compilable(path, m, "the BatchNorm has no running statistics (batch statistics at inference)",
                             "train with track_running_stats=True")
    c = bn.num_features
    return {"mean": np64(bn.running_mean), "var": np64(bn.running_var),
            "weight": np64(bn.weight) if bn.affine else np.ones(c),
            "bias": np64(bn.bias) if bn.affine else np.zeros(c), "eps": float(bn.eps)}


def register_all(table: dict[str, Callable[..., Any]]) -> None:
    for name, fn in table.items():
        register_named_converter(name, fn)
