"""Converters for my_layers (docs/CONVERTERS.md §8): load with `snncompile --converters my_converters ...` or
install under the `snncompile.converters` entry point group."""

from __future__ import annotations

import numpy as np
from my_layers import HardResetNeuron

import snncompile
from snncompile import ir


@snncompile.register_converter(HardResetNeuron)
def convert_hard_reset(ctx, m, path, inputs):
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.LIF, inputs, path, decay=np.full(shape, m.decay), threshold=np.full((1, *shape), m.threshold),
                   comparison=">", reset="zero")
