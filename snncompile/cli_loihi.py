"""The --loihi-* options of `snncompile compile`: LoihiOptions from the command line."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import click

from snncompile.targets.loihi.caps import LOIHI_ARITHMETIC_TARGETS


def loihi_cli_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--loihi-input-encoding, --loihi-input-bits, --loihi-input-scale, --loihi-input-max, --loihi-overflow,
    --loihi-allow, --loihi-calibration (the fields of targets.loihi.LoihiOptions)."""
    options = [
        click.option("--loihi-input-encoding", type=click.Choice(["auto", "binary", "graded"]),
                     help="input payloads: binary spikes or graded integers (auto: binary if the calibration "
                          "data is 0/1)"),
        click.option("--loihi-input-bits", type=click.IntRange(1, 24), help="graded payload width (default 8)"),
        click.option("--loihi-input-scale", type=click.FloatRange(min=0, min_open=True),
                     help="integer steps per real input unit (default: from the calibration data or input max)"),
        click.option("--loihi-input-max", type=click.FloatRange(min=0, min_open=True),
                     help="largest real input without calibration data (default 1.0)"),
        click.option("--loihi-overflow", type=click.Choice(["avoid", "warn"]),
                     help="avoid: cap each layer's scale so the current cannot wrap (default); warn: only report"),
        click.option("--loihi-allow", multiple=True, type=click.Choice(["non-strict"]),
                     help="accept this approximation instead of refusing the model (warned, recorded in the "
                          "manifest): non-strict compiles a leaky ≥ threshold as >"),
        click.option("--loihi-calibration", metavar="digits|random|FILE.npz",
                     help="input data that refines the input scale and the overflow caps (FILE.npz: `x` or "
                          "`calibration`, images [N, ...] or frames [T, N, ...], as for verify --data)"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


LOIHI_TARGETS = LOIHI_ARITHMETIC_TARGETS
"""Targets whose pipeline runs the Loihi quantizer (and so reads these options); also nir with --nir-quantize."""


def loihi_target(target: str, nir_quantize: str | None, **values: Any) -> AbstractContextManager[Any]:
    """Within the block, the Loihi quantizer uses the given (non-None) --loihi-* values; refuses them for
    targets that do not quantize for Loihi."""
    given = {k.removeprefix("loihi_"): v for k, v in values.items() if v is not None and v != ()}
    if "allow" in given:
        given["allow"] = frozenset(given["allow"])
    if not given:
        return nullcontext()
    if target not in LOIHI_TARGETS and not (target == "nir" and nir_quantize == "loihi"):
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(values) if values[k] not in (None, ()))
        raise click.UsageError(f"{flags}: only for --target {', '.join(LOIHI_TARGETS)} or nir --nir-quantize loihi")
    from snncompile.targets.loihi import loihi_options

    return loihi_options(**given)
