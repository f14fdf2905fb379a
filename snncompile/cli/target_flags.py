"""Target option flags (--loihi-*, --nir-*) generated from the targets' options dataclasses, and their routing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import click

from snncompile.targets import Target, resolve_target, target_class, target_names
from snncompile.targets.registry import flag_options


def _options_types() -> Iterator[tuple[str, type[Any]]]:
    """(flag prefix, options dataclass) once per options type, in registry order."""
    seen: set[type[Any]] = set()
    for name in target_names():
        prefix, options = flag_options(name)  # built-ins: without importing the target (torch), for --help
        if prefix and options not in seen:
            seen.add(options)
            yield prefix, options


def _param_type(meta: dict[str, Any]) -> click.ParamType | None:
    if "choices" in meta:
        return click.Choice(list(meta["choices"]))
    if "min" in meta or "max" in meta:
        return click.IntRange(meta.get("min"), meta.get("max"))
    if "min_open" in meta:
        return click.FloatRange(min=meta["min_open"], min_open=True)
    return None


def _flag(prefix: str, f: dataclasses.Field[Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    meta = dict(f.metadata)
    kwargs: dict[str, Any] = {"help": meta.get("help"), "type": _param_type(meta)}
    if meta.get("multiple"):
        kwargs["multiple"] = True
    if meta.get("metavar"):
        kwargs["metavar"] = meta["metavar"]
    if meta.get("show_default"):
        kwargs.update(default=f.default, show_default=True)
    return click.option(f"--{prefix}-{f.name.replace('_', '-')}", f"{prefix}_{f.name}", **kwargs)


def target_option_flags(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds a `--<prefix>-<field>` flag for every CLI field of every target's options dataclass."""
    flags = [_flag(prefix, f) for prefix, opts in _options_types() for f in dataclasses.fields(opts)
             if f.metadata.get("cli", True)]
    for flag in reversed(flags):
        fn = flag(fn)
    return fn


def _given(prefix: str, opts: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    """The flags of one options type that the user set (defaults shown in --help do not count)."""
    found = {}
    for f in dataclasses.fields(opts):
        value = values.get(f"{prefix}_{f.name}")
        if value is None or value == () or (f.metadata.get("show_default") and value == f.default):
            continue
        found[f.name] = value
    return found


def _nested_types(cls: type[Target[Any]]) -> set[Any]:
    return {f.default_factory for f in dataclasses.fields(cls.options_type)}


def configured_target(target: str, **values: Any) -> Target[Any]:
    """The target named `target` with the flags the user set applied: its own options type's flags, and the
    flags of a nested options field (nir's `loihi` field for --nir-quantize loihi). Flags of a target that
    does not read them are a usage error."""
    tgt = resolve_target(target)
    given = {prefix: found for prefix, opts in _options_types() if (found := _given(prefix, opts, values))}
    own = [prefix for prefix, opts in _options_types() if opts is tgt.options_type and prefix in given]
    if own:
        tgt = tgt.with_options(given[own[0]])
    nested: dict[object, str] = {f.default_factory: f.name for f in dataclasses.fields(tgt.options_type)
                                 if f.default_factory is not dataclasses.MISSING}
    uses = getattr(tgt.options, "uses", lambda _field: True)
    unused: list[str] = []
    for prefix, opts in _options_types():
        if prefix not in given or prefix in own:
            continue
        field = nested.get(opts)
        if field is not None and uses(field):
            tgt = tgt.with_options({field: dataclasses.replace(getattr(tgt.options, field), **given[prefix])})
        else:
            unused += [f"--{prefix}-{k.replace('_', '-')}" for k in sorted(given[prefix])]
    if unused:
        readers = [n for n in target_names() if any(f.startswith(f"--{target_class(n).flag_prefix}-") for f in unused)]
        nesting = [n for n in target_names() if any(f.startswith(f"--{p}-") for f in unused for p, o in
                                                    _options_types() if o in _nested_types(target_class(n)))]
        also = f" (or {', '.join(nesting)} with the option that enables them)" if nesting else ""
        raise click.UsageError(f"{', '.join(unused)}: only for --target {', '.join(readers)}{also}")
    return tgt
