"""The converter table: module class -> function that appends the module's IR nodes, and its context."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from torch import nn

from snncompile import ir
from snncompile.errors import error
from snncompile.ir import ops_ext  # noqa: F401  (registers the library-neuron ops before targets list ops)

Converter = Callable[["ConvertContext", nn.Module, str, list[str]], "str | tuple[str | None, ...]"]
"""convert(ctx, module, path, input_names) -> name of the IR node holding the module's output. A module
that returns several values (spikes, state) returns a tuple of names, None for a value with no IR node."""

_CONVERTERS: dict[type[nn.Module], Converter] = {}
# Converters for classes known only by name: research code that is not an installable package defines them in
# the user's own modules (snncompile/frontend/papers/). The converter verifies the structure itself.
_NAMED: dict[str, Converter] = {}

_EQUIVALENT: dict[type[nn.Module], type[nn.Module]] = {}

SEMANTIC_METHODS = ("forward", "_conv_forward", "__call__", "_call_impl")
"""Methods whose override changes what a module computes: a subclass that defines one of them does not
inherit its base class's converter (the converter reproduces the base class's forward, not the new one)."""


def register_converter(module_type: type[nn.Module], converter: Converter | None = None, *,
                       equivalent_to: type[nn.Module] | None = None) -> Any:
    """Teach the frontend a module class (also usable as a decorator). The tracer then treats the class
    as a leaf and calls `converter(ctx, module, path, inputs)`, which adds IR nodes with `ctx.add(...)`
    and returns the name of the node that holds the module's output.

    Subclasses inherit the converter unless they override forward() (or another of SEMANTIC_METHODS):
    such a subclass is refused (SNC113) until it registers its own converter, or until the user declares
    that it computes exactly what its base computes: `register_converter(Sub, equivalent_to=Base)`."""
    if equivalent_to is not None:
        if converter is not None or not issubclass(module_type, equivalent_to):
            raise TypeError("register_converter(Sub, equivalent_to=Base) takes no converter, and Sub must "
                            "subclass Base")
        _EQUIVALENT[module_type] = equivalent_to
        _CONVERTERS.pop(module_type, None)
        return module_type

    def register(fn: Converter) -> Converter:
        _CONVERTERS[module_type] = fn
        _EQUIVALENT.pop(module_type, None)
        return fn
    return register if converter is None else register(converter)


def register_named_converter(class_name: str, converter: Converter) -> None:
    """Teach the frontend a class by its `__qualname__`, whatever module defines it (the papers' code). It is
    looked up after the class itself is registered and before its bases, so a BatchNorm2d subclass of that
    name gets this converter, never BatchNorm2d's; the converter must verify the module and refuse others."""
    _NAMED[class_name] = converter



def checks_subclasses(fn: Converter) -> Converter:
    """Mark a converter that handles (or refuses) subclasses of its class itself, e.g. a library's catch-all
    refusal: lookup then hands it every subclass, overriding forward() or not."""
    fn.snncompile_checks_subclasses = True  # type: ignore[attr-defined]
    return fn


@dataclass(frozen=True)
class Lookup:
    """The converter found for a module: the registered (or declared equivalent) class it was found on, and
    the first class between the module's own class and that one which overrides one of SEMANTIC_METHODS."""

    registered: type
    converter: Converter
    overridden_by: type | None
    method: str | None


def lookup(module: nn.Module) -> Lookup | None:
    cls0 = type(module)
    if cls0 not in _CONVERTERS and cls0.__qualname__ in _NAMED:  # the papers' classes, known by name
        return Lookup(cls0, _NAMED[cls0.__qualname__], None, None)
    mro = cls0.__mro__
    for index, cls in enumerate(mro):
        if cls in _CONVERTERS:
            fn = _CONVERTERS[cls]
        elif cls in _EQUIVALENT:
            base = lookup_class(_EQUIVALENT[cls])
            if base is None:
                continue
            fn = base
        else:
            continue
        if getattr(fn, "snncompile_checks_subclasses", False):
            return Lookup(cls, fn, None, None)
        for sub in mro[:index]:
            method = next((m for m in SEMANTIC_METHODS if m in vars(sub)), None)
            if method is not None:
                return Lookup(cls, fn, sub, method)
        return Lookup(cls, fn, None, None)
    return None


def lookup_class(cls: type) -> Converter | None:
    """The converter a class would use, ignoring overrides (for equivalence declarations)."""
    for base in cls.__mro__:
        if base in _CONVERTERS:
            return _CONVERTERS[base]
        if base in _EQUIVALENT:
            return lookup_class(_EQUIVALENT[base])
    return None


def find_converter(module: nn.Module) -> Converter | None:
    """The module's converter; for a subclass that overrides forward() of a class with a converter (and is
    neither registered nor declared equivalent), a converter that refuses it with SNC113."""
    found = lookup(module)
    if found is None:
        return None
    if found.overridden_by is None:
        return found.converter
    return functools.partial(_refuse_override, found)


def has_converter(module: nn.Module) -> bool:
    return find_converter(module) is not None


def _refuse_override(found: Lookup, ctx: ConvertContext, module: nn.Module, path: str, inputs: list[str]) -> str:
    raise overridden_module(module, path, found)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def overridden_module(module: nn.Module, path: str, found: Lookup) -> Exception:
    cls, base = type(module), found.registered
    where = "" if found.overridden_by is cls else f" (in its base {_qualname(found.overridden_by)})"  # type: ignore[arg-type]
    return error(
        "SNC113", f"module `{path or '<root>'}` of class {_qualname(cls)} overrides {found.method}(){where}, "
        f"but the only converter is the one of its base class {_qualname(base)}, which would compile it as a "
        f"plain {base.__qualname__} and silently ignore the override", origin=path or None,
        hint=f"register a converter for {cls.__qualname__} (snncompile.register_converter({cls.__qualname__}, fn)), "
             f"or, if it computes exactly what {base.__qualname__} computes, declare it: "
             f"snncompile.register_converter({cls.__qualname__}, equivalent_to={base.__qualname__}) "
             "(docs/CONVERTERS.md)")


class ConvertContext:
    """Accumulates IR nodes during conversion; names nodes after module paths and tracks shapes.

    `batch_dims` is how many leading axes the module sees before the features: 2 ([T, B, ...]) at the
    top level, 1 ([T·B, ...]) inside a TimeDistributed container.
    """

    def __init__(self) -> None:
        self.nodes: list[ir.Op] = []
        self._shapes: dict[str, ir.Shape] = {}
        self.batch_dims = 2
        # True while converting the body of a time-loop container (spikingjelly MultiStepContainer, norse
        # Lift, ext_snntorch.TimeLoop): modules there see one timestep and neurons keep state across calls.
        self.per_step = False
        # Axis tags of the tensor the module receives when the model is traced eagerly in its own layout
        # (frontend/pytorch/eager.py): "T", "B", "TB" (T-major merged) or "F" (feature); None: [T, B, ...].
        self.axes: tuple[str, ...] | None = None
        self.steps: int | None = None  # T, when the tracer knows it (eager tracing)

    def unique_name(self, hint: str) -> str:
        base = hint or "node"
        name, k = base, 1
        while name in self._shapes:
            name, k = f"{base}_{k}", k + 1
        return name

    def add(self, op_type: type[ir.Op], inputs: list[str], origin: str, name: str | None = None,
            **fields: Any) -> str:
        """Create a node of `op_type`, check its shape right away, and return its name."""
        node = op_type(name=self.unique_name(name or origin), inputs=tuple(ir.Edge(i) for i in inputs),
                       origin=origin, **fields)
        try:
            shape = node.infer_shape([self._shapes[i] for i in inputs])
        except ir.ShapeError as exc:
            raise error("SNC204", str(exc), node=node.name, origin=origin,
                        hint="check input_shape (--input-shape) against the layer's expected input size") from None
        self.nodes.append(node)
        self._shapes[node.name] = shape
        return node.name

    def shape(self, name: str) -> ir.Shape:
        return self._shapes[name]

    def convert(self, module: nn.Module, path: str, inputs: list[str]) -> str | tuple[str | None, ...]:
        """Convert one module through the table, or fail with a diagnostic naming it."""
        fn = find_converter(module)
        if fn is None:
            raise unsupported_module(module, path)
        return fn(self, module, path, inputs)


def unsupported_module(module: nn.Module, path: str) -> Exception:
    cls = type(module)
    return error(
        "SNC100", f"module `{path}` of class {cls.__module__}.{cls.__qualname__} has no converter",
        origin=path,
        hint=f"if it is a layer snncompile should know, write a converter and call "
             f"snncompile.register_converter({cls.__qualname__}, fn) before compiling "
             "(see README, 'Custom layers'); otherwise replace the module")


# ---------------------------------------------------------------------------------------------------------
# Modules that return several values, and the SNN-library extensions


class UnusedOutput:
    """Stands for an output of a multi-output module that has no IR value (a neuron state): an error if used."""

    def __init__(self, message: str) -> None:
        self.message = message


def select_output(outputs: tuple[str | None, ...], index: object, origin: str) -> str | UnusedOutput:
    """`module(...)[index]` for a converter that returned a tuple (None marks a state with no IR value)."""
    if isinstance(index, int) and -len(outputs) <= index < len(outputs) and outputs[index] is not None:
        return outputs[index]  # type: ignore[return-value]
    return UnusedOutput(f"`{origin}` uses output [{index}] of a module that returns {len(outputs)} values; only "
                        "the spike output can be compiled (neuron states stay inside the compiled network)")


EXTENSIONS = {
    "spikingjelly": "snncompile.frontend.libraries.spikingjelly",
    "snntorch": "snncompile.frontend.libraries.snntorch",
    "norse": "snncompile.frontend.libraries.norse",
}


ENTRY_POINT_GROUP = "snncompile.converters"
_loaded_plugins: set[str] = set()


def load_extensions(libraries: Iterable[str] = ()) -> None:
    """Import the converters of the SNN libraries the user has already imported (a model built from one
    implies that) and of those named in `libraries`, the papers' converters, and every converter module
    installed under the `snncompile.converters` entry-point group. Each library extension registers its
    converters only if its library imports, so the frontend works without any of them."""
    wanted = set(libraries)
    for library, module in EXTENSIONS.items():
        if library in sys.modules or library in wanted:
            importlib.import_module(module)
    importlib.import_module("snncompile.frontend.papers")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value not in _loaded_plugins:
            _loaded_plugins.add(ep.value)
            load_converter_module(ep.value, f"entry point `{ep.name}` ({ENTRY_POINT_GROUP})")


def load_converter_module(name: str, source: str = "--converters") -> None:
    """Import a module that registers converters (`--converters pkg.module`, or an entry point's value); an
    entry point may name a function (`pkg.module:register`), which is then called."""
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
        if attr:
            getattr(module, attr)()
    except Exception as exc:
        raise error("SNC111", f"converter module `{name}` from {source} could not be loaded: "
                    f"{type(exc).__name__}: {exc}",
                    hint="pass an importable module (on PYTHONPATH) that calls snncompile.register_converter"
                    ) from None
