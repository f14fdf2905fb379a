"""The `snncompile` command line: flags to API calls, diagnostics to stderr, stable exit codes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from snncompile.errors import CompileError, InternalError
from snncompile.version import __version__

EXIT_OK, EXIT_COMPILE_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class DefaultGroup(click.Group):
    """A group whose unnamed form `snncompile MODEL ...` means `snncompile compile MODEL ...`."""

    group_flags = ("--list-targets", "--list-passes", "--explain", "--version", "--help", "-h")
    output_flags = ("--quiet", "-q", "--verbose", "-v", "-vv")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        lead = 0
        while lead < len(args) and args[lead] in self.output_flags:  # `snncompile -q MODEL` is compile too
            lead += 1
        rest = args[lead:]
        if rest and rest[0] not in self.commands and rest[0] not in self.group_flags:
            args = [*args[:lead], "compile", *rest]
        return super().parse_args(ctx, args)


def _fail(exc: BaseException, debug: bool) -> NoReturn:
    if debug:
        raise exc
    if isinstance(exc, CompileError):
        for d in exc.diagnostics:
            click.echo(d.render(), err=True)
        n = len(exc.diagnostics)
        if exc.is_usage:
            click.echo(f"usage error: {n} error{'s' if n > 1 else ''} (see --help)", err=True)
            sys.exit(EXIT_USAGE)
        click.echo(f"compilation failed: {n} error{'s' if n > 1 else ''}", err=True)
        sys.exit(EXIT_COMPILE_ERROR)
    if isinstance(exc, InternalError):
        click.echo(f"internal error: {exc}\n  please report this; --debug shows the traceback", err=True)
        sys.exit(EXIT_INTERNAL)
    click.echo(f"internal error: {type(exc).__name__}: {exc}\n  please report this; --debug shows the "
               "traceback", err=True)
    sys.exit(EXIT_INTERNAL)


def guarded(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a command body, turning exceptions into diagnostics and exit codes (unless --debug)."""
    def wrapper(*args: Any, debug: bool = False, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            _fail(exc, debug)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _parse_shape(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        shape = tuple(int(v) for v in value.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a shape like 1,8,8") from None
    if not shape or min(shape) < 1:
        raise click.BadParameter(f"{value!r} is not a shape like 1,8,8")
    return shape


def _load_converters(ctx: click.Context, _p: click.Parameter, value: tuple[str, ...]) -> None:
    if not value or ctx.resilient_parsing:
        return
    from snncompile.frontend.pytorch.converters import load_converter_module

    if "" not in sys.path and os.getcwd() not in sys.path:  # as `python -m` would: the user's project modules
        sys.path.insert(0, os.getcwd())
    for name in value:
        try:
            load_converter_module(name)
        except CompileError as exc:
            _fail(exc, debug="--debug" in sys.argv)


converters_option = click.option(
    "--converters", multiple=True, metavar="PKG.MODULE", expose_value=False, callback=_load_converters,
    help="import a module that registers converters (snncompile.register_converter) before loading the model; "
    "repeatable. Modules installed under the `snncompile.converters` entry point load automatically")


def model_options(fn: Callable[..., Any], dir_okay: bool = False) -> Callable[..., Any]:
    for opt in reversed([
        click.argument("model", type=click.Path(dir_okay=dir_okay, path_type=Path)),
        click.option("--input-shape", callback=_parse_shape, help="per-sample input shape, e.g. 1,8,8 "
                     "(default: the model's input_shape attribute)"),
        click.option("--timesteps", "-T", type=click.IntRange(min=1), help="timesteps T (default: the "
                     "model's timesteps attribute)"),
        click.option("--trust-pickle", is_flag=True, help="unpickle classes outside the allowlist "
                     "(runs code from the file; only for files you trust)"),
        click.option("--factory", metavar="PKG.MODULE:FN", help="build the model with FN(); MODEL is "
                     "then its state_dict"),
        click.option("--layout", type=click.Choice(["tb", "time_last", "merged", "repeat"]),
                     help="input layout of the model's forward(): [T,B,...], time-last [B,...,T], merged [T*B,...] "
                     "or [B,...] repeated T times inside (default: [T,B,...], or recognized from the papers' "
                     "modules; see docs/PAPERS.md)"),
        converters_option,
        click.option("--debug", is_flag=True, help="show Python tracebacks"),
    ]):
        fn = opt(fn)
    return fn


def model_or_artifact_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """model_options whose MODEL may also be an artifact directory written by compile."""
    return model_options(fn, dir_okay=True)


def _list_targets(ctx: click.Context, _p: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from snncompile.targets import target_class, target_names
    for name in target_names():
        click.echo(f"{name:10s} {target_class(name).description}")
    ctx.exit(EXIT_OK)


def _list_passes(ctx: click.Context, _p: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from snncompile.passes import PASS_REGISTRY
    for name, cls in sorted(PASS_REGISTRY.items()):
        click.echo(f"{name:20s} {cls.summary}")
    ctx.exit(EXIT_OK)


def _explain(ctx: click.Context, _p: click.Parameter, value: str | None) -> None:
    if value is None or ctx.resilient_parsing:
        return
    from snncompile.errors_explain import explain

    try:
        click.echo(explain(value))
    except KeyError:
        raise click.BadParameter(f"{value!r} is not a diagnostic code (e.g. SNC601); see docs/DIAGNOSTICS.md",
                                 ctx=ctx, param=_p) from None
    ctx.exit(EXIT_OK)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snncompile")
@click.option("--list-targets", is_flag=True, expose_value=False, is_eager=True, callback=_list_targets,
              help="list compilation targets and exit")
@click.option("--list-passes", is_flag=True, expose_value=False, is_eager=True, callback=_list_passes,
              help="list passes and exit")
@click.option("--explain", metavar="SNCnnn", expose_value=False, is_eager=True, callback=_explain,
              help="explain a diagnostic code (what it means, what to do) and exit")
@click.option("--quiet", "-q", is_flag=True, help="only errors and warnings: no progress bars, no other output")
@click.option("--verbose", "-v", count=True, help="debug log records on stderr (-vv: with their source lines)")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: int) -> None:
    """Compile trained spiking neural networks exactly for neuromorphic targets.

    \b
    snncompile MODEL --target TARGET -o OUT     compile (same as `snncompile compile ...`)
    snncompile inspect MODEL                    print the IR and a per-layer summary
    snncompile verify MODEL --target loihi      differential verification and reports

    Results go to stdout; diagnostics, log records and progress bars (with rate and ETA, shown when stderr is
    a terminal) go to stderr.
    """
    from snncompile.cli import console

    ctx.obj = console.Settings(quiet, verbose, console.STARTED if console.STARTED is not None
                               else time.perf_counter())
    console.install_logging(ctx, quiet, verbose)


def run(group: click.Group) -> None:
    """Run the command line (the caller, snncompile.cli.main, has installed the signal handlers)."""
    group(prog_name="snncompile")


def main() -> None:
    from snncompile.cli import main as entry

    entry()



