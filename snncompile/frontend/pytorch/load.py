"""Safe checkpoint loading: allowlisted pickled modules, or a user factory plus a state_dict."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from snncompile import nn as snn
from snncompile import validate
from snncompile.errors import CompileError, error

if TYPE_CHECKING:
    import onnx

    from snncompile import ir

_TORCH_LAYERS: tuple[type, ...] = (
    nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d,
    nn.BatchNorm2d, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Dropout, nn.Dropout2d,
    nn.Identity,
)
_SNN_LAYERS: tuple[type, ...] = tuple(getattr(snn, name) for name in snn.__all__)
_EXTRA_SAFE: list[type] = []


def allow_class(cls: type) -> None:
    """Add a class to the allowlist for weights-only loading (for libraries registered with converters)."""
    if cls not in _EXTRA_SAFE:
        _EXTRA_SAFE.append(cls)


def safe_classes() -> dict[str, type]:
    classes = (*_TORCH_LAYERS, *_SNN_LAYERS, *_EXTRA_SAFE)
    return {f"{c.__module__}.{c.__qualname__}": c for c in classes}


def load_model(path: str | os.PathLike[str], *, trust_pickle: bool = False,
               factory: str | None = None) -> nn.Module:
    """Load a model from `path`.

    A whole pickled module loads with torch.load(weights_only=True) when every class in it is on the
    allowlist; other classes are refused unless `trust_pickle` (which runs arbitrary code from the file).
    With `factory="pkg.module:fn"`, `fn()` builds the module and `path` holds its state_dict.
    """
    path = validate.model_path(path)
    if path.suffix.lower() == ".onnx":
        raise error("SNC104", f"{path} is an ONNX model, not a PyTorch checkpoint",
                    hint="compile it with snncompile.compile(path, ...) or the CLI; load_onnx reads it into the IR")
    if factory is not None:
        return _from_factory(path, factory)
    if trust_pickle:
        obj = _torch_load(path, weights_only=False)
    else:
        _refuse_unknown_classes(path)
        with torch.serialization.safe_globals(list(safe_classes().values())):
            obj = _torch_load(path, weights_only=True)
    if isinstance(obj, nn.Module):
        return obj
    raise error("SNC104", f"{path} holds a {type(obj).__name__}, not a module (a state_dict?)",
                hint="pass --factory pkg.module:fn, a function that builds the model; the file is then "
                     "loaded as its state_dict")


def load_onnx(path: str | os.PathLike[str], timesteps: int | None = None) -> tuple[onnx.ModelProto, ir.Graph]:
    """An .onnx file and its IR graph (frontend/onnx_reader.read_onnx: snncompile step models, their integer
    form, or a PyTorch step module exported with explicit state). timesteps overrides the file's T."""
    from snncompile.frontend.onnx.reader import load_proto, read_onnx

    validate.model_path(path)
    proto = load_proto(path)
    return proto, read_onnx(proto, timesteps)


def _refuse_unknown_classes(path: Path) -> None:
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:
        raise error("SNC104", f"{path} is not a readable torch checkpoint: {type(exc).__name__}: "
                    f"{_first_line(exc)}",
                    hint="pass a file written by torch.save (the file may be truncated or of another format)") \
            from None
    from snncompile.frontend.pytorch.converters import load_extensions

    load_extensions({name.split(".")[0] for name in found})  # their allow_class() calls for library classes
    allowed = safe_classes()
    unknown = sorted(name for name in found if name not in allowed)
    if unknown:
        raise error("SNC103", f"{path} contains classes that are not on the safe-loading allowlist: "
                    + ", ".join(unknown),
                    hint="unpickling them would run code from the file. If you trust it, pass "
                         "--trust-pickle; safer: save model.state_dict() and pass --factory pkg.module:fn")


def _torch_load(path: Path, weights_only: bool) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except CompileError:
        raise
    except (ModuleNotFoundError, AttributeError) as exc:  # unpickling names a module or class Python cannot find
        missing = exc.name if isinstance(exc, ModuleNotFoundError) and exc.name else None
        what = f"module `{missing}`" if missing else "a class"
        raise error("SNC104", f"could not load {path}: it refers to {what} that is not importable: {exc}",
                    hint="the code that defined the model must be importable: install its package or add its "
                         "directory to PYTHONPATH (or save a state_dict and pass --factory pkg.module:fn)") \
            from None
    except Exception as exc:
        raise error("SNC104", f"could not load {path}: {type(exc).__name__}: {_first_line(exc)}",
                    hint="pass a file written by torch.save (the file may be truncated or of another format)") \
            from None


def _from_factory(path: Path, spec: str) -> nn.Module:
    build = _import_factory(spec)
    try:
        model = build()
    except Exception as exc:
        raise error("SNC106", f"factory {spec} raised {type(exc).__name__}: {exc}",
                    hint="the factory must build the model without arguments; run it in Python to see why "
                         "it fails") from None
    if not isinstance(model, nn.Module):
        raise error("SNC106", f"factory {spec} returned a {type(model).__name__}, not an nn.Module",
                    hint="the factory must return the torch.nn.Module whose state_dict MODEL holds")
    state = _torch_load(path, weights_only=True)
    for key in ("state_dict", "model"):  # training checkpoints: {"state_dict": ...} or {"model": ..., "epoch": ...}
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if isinstance(state, dict) and state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from nn.DataParallel
    if not isinstance(state, dict):
        raise error("SNC104", f"{path} does not hold a state_dict", hint="save model.state_dict()")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise error("SNC106", f"state_dict in {path} does not fit the factory's model: {exc}",
                    hint="the factory must build the same architecture the state_dict was saved from") from None
    return model


def _import_factory(spec: str) -> Callable[[], object]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise error("SNC106", f"factory {spec!r} is not of the form pkg.module:function",
                    hint="e.g. --factory mypkg.models:build_net")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error("SNC106", f"cannot import factory module {module_name}: {exc}",
                    hint="the module must be importable (installed, or on PYTHONPATH)") from None
    except Exception as exc:  # the module's own code failed while it was imported
        raise error("SNC106", f"importing factory module {module_name} raised {type(exc).__name__}: {exc}",
                    hint="the error is in that module's top-level code; run `python -c 'import "
                         f"{module_name}'` to see it") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise error("SNC106", f"factory module {module_name} has no attribute {attr!r}",
                    hint="check the function name after the colon")
    if not callable(fn):
        raise error("SNC106", f"factory {spec} is not callable", hint="name a function that returns the model")
    return fn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
