"""The compile check runs chunk by chunk: the same counts whatever the chunk size."""

from __future__ import annotations

import torch
from torch import nn

import snncompile
import snncompile.nn as snn
from snncompile.verification.check import check_compile, random_input


def mlf_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(snn.TimeDistributed(nn.Conv2d(1, 4, 3, 1, 1)), snn.MLF((0.3, 0.9)),
                          snn.TimeDistributed(nn.AvgPool2d(2), nn.Flatten()), snn.Readout(16, 3))
    model.input_shape, model.timesteps = (1, 4, 4), 4
    return model.eval()


def test_check_counts_do_not_depend_on_the_chunk_size() -> None:
    model = mlf_model()
    result = snncompile.compile(model, "sim")
    x = random_input(result.traced, 5)
    reports = [check_compile(model, result.traced, result.graph, x, chunk=c) for c in (1, 2, 5)]
    for r in reports:
        assert r.exact and r.layers == reports[0].layers
        assert r.layers[0].decisions == 5 * 4 * 4 * 4 * 4
    assert reports[0].readout_model_vs_compiled == reports[2].readout_model_vs_compiled
