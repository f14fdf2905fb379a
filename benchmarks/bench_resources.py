"""Loihi 2 resource plans of the papers' networks (issue 13) on their float IR: cores, chips, binding limits."""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from collections.abc import Callable

import torch
from torch import nn

import snncompile
import snncompile.nn as snn
from benchmarks.common import emit, table
from snncompile.nn.blocks import DSResBlock, PreActBlock, SpikingBasicBlock
from snncompile.resources import resource_report
from snncompile.targets.loihi.partition import LOIHI2_LIMITS

Net = tuple[nn.Sequential, tuple[int, ...], int]


def _stages(first: list[nn.Module], block: Callable[[int, int, int], nn.Module], c: int,
            stages: tuple[tuple[int, int, int], ...]) -> list[nn.Module]:
    layers = list(first)
    for c_out, blocks, stride in stages:
        for i in range(blocks):
            layers.append(block(c, c_out, stride if i == 0 else 1))
            c = c_out
    return layers


def resnet19() -> Net:
    """tdBN ResNet-19 for CIFAR: conv 3→128, stages 3x128, 3x256 (stride 2), 2x512 (stride 2), fc 256, readout."""
    first = [snn.TimeDistributed(nn.Conv2d(3, 128, 3, 1, 1, bias=False)), snn.TDBatchNorm(128), snn.LIF()]
    layers = _stages(first, SpikingBasicBlock, 128, ((128, 3, 1), (256, 3, 2), (512, 2, 2)))
    layers += [snn.TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()), snn.TimeDistributed(nn.Linear(512, 256)),
               snn.LIF(), snn.Readout(256, 10)]
    return nn.Sequential(*layers), (3, 32, 32), 4


def dsresnet56() -> Net:
    """MLF DS-ResNet-56 for CIFAR: 3 stages of 9 blocks, 16/32/64 channels, 3-level MLF neurons."""
    first = [snn.TimeDistributed(nn.Conv2d(3, 16, 3, 1, 1, bias=False)),
             snn.TDBatchNorm(16, v_th=0.6, eps_inside=False), snn.MLF()]
    layers = _stages(first, DSResBlock, 16, ((16, 9, 1), (32, 9, 2), (64, 9, 2)))
    layers += [snn.TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()), snn.Readout(64, 10)]
    return nn.Sequential(*layers), (3, 32, 32), 4


def preact110() -> Net:
    """PSP-norm pre-activation ResNet-110 for CIFAR: 3 stages of 18 blocks, 16/32/64 channels."""
    layers = _stages([snn.TimeDistributed(nn.Conv2d(3, 16, 3, 1, 1, bias=False))], PreActBlock, 16,
                     ((16, 18, 1), (32, 18, 2), (64, 18, 2)))
    layers += [snn.PSPNorm(64), snn.LIF(), snn.TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
               snn.Readout(64, 10)]
    return nn.Sequential(*layers), (3, 32, 32), 4


def dvs_convnet() -> Net:
    """LIF conv net on 2x128x128 DVS frames: 4 x (conv 3x3, tdBN, LIF, max-pool 2) with 32/64/128/128 channels,
    fc 512, readout of 11 classes."""
    layers: list[nn.Module] = []
    c = 2
    for c_out in (32, 64, 128, 128):
        layers += [snn.TimeDistributed(nn.Conv2d(c, c_out, 3, 1, 1, bias=False)), snn.TDBatchNorm(c_out), snn.LIF(),
                   snn.TimeDistributed(nn.MaxPool2d(2))]
        c = c_out
    layers += [snn.TimeDistributed(nn.Flatten()), snn.TimeDistributed(nn.Linear(128 * 8 * 8, 512)), snn.LIF(),
               snn.Readout(512, 11)]
    return nn.Sequential(*layers), (2, 128, 128), 8


NETWORKS: dict[str, Callable[[], Net]] = {"ResNet-19 (tdBN)": resnet19, "DS-ResNet-56 (MLF)": dsresnet56,
                                          "pre-act ResNet-110 (PSP)": preact110, "DVS conv net": dvs_convnet}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", help="also write the result block to this file")
    args = parser.parse_args()
    unlimited = dataclasses.replace(LOIHI2_LIMITS, input_axons=2**62, output_axons=2**62)
    rows = []
    for name, build in NETWORKS.items():
        torch.manual_seed(0)
        model, shape, steps = build()
        model.eval()
        model.input_shape, model.timesteps = shape, steps  # type: ignore[assignment]
        start = time.perf_counter()
        graph = snncompile.compile(model, "sim").graph  # the float IR: no Loihi compile needed for the plan
        report = resource_report(graph, "loihi")
        seconds = time.perf_counter() - start
        free = resource_report(graph, "loihi", limits=unlimited)["totals"]
        t, bound = report["totals"], report["plan"]["binding_layers"]
        rows.append((name, f"{t['neurons']:,}", len(report["layers"]), f"{t['cores']:,}", t["chips"], t["boards"],
                     ", ".join(f"{k} {v}" for k, v in bound.items()), f"{free['cores']:,} / {free['chips']}",
                     f"{t['loihi_synapse_bytes'] / 2**20:.1f} / {t['loihi_synapse_bytes_dense'] / 2**20:,.0f}",
                     f"{seconds:.1f}"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    body = table(("network", "neurons", "layers", "cores", "chips", "boards", "layers bound by",
                  "cores / chips without axon limits", "synapse MiB shared / dense", "s"), rows)
    emit("Loihi 2 resource plans of the papers' networks (float IR)", f"{body}\n\npeak RSS {peak:.2f} GiB", args.out)


if __name__ == "__main__":
    main()
