"""The five published-size networks of issue 13, built from snncompile.nn with random weights and calibrated norms."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

import snncompile.nn as snn


def _resnet19(mpbn: bool) -> nn.Sequential:
    """tdBN ResNet-19 (Zheng et al. 2021) for 3x32x32: conv128, 3x128, 3x256, 2x512 basic blocks, avgpool, fc256,
    fc10. With mpbn, every LIF after a BN becomes a channel-wise MPBN LIF (the MPBN paper's ResNet-19)."""
    layers: list[nn.Module] = [snn.TimeDistributed(nn.Conv2d(3, 128, 3, 1, 1, bias=False)), snn.TDBatchNorm(128),
                               _neuron(mpbn, (128, 32, 32))]
    c_in, size = 128, 32
    for c, blocks in ((128, 3), (256, 3), (512, 2)):
        for k in range(blocks):
            stride = 2 if c != 128 and k == 0 else 1
            size //= stride
            block = snn.SpikingBasicBlock(c_in, c, stride)
            if mpbn:
                block.lif1, block.lif2 = _neuron(True, (c, size, size)), _neuron(True, (c, size, size))
            layers.append(block)
            c_in = c
    layers += [snn.TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 256, bias=False)),
               snn.TDBatchNorm(256), _neuron(mpbn, (256,)), snn.Readout(256, 10)]
    return nn.Sequential(*layers)


def _neuron(mpbn: bool, shape: tuple[int, ...]) -> nn.Module:
    return snn.MPBNLIF(shape, v_th=0.5, fire_level=1.0) if mpbn else snn.LIF()


def tdbn_resnet19() -> nn.Sequential:
    return _resnet19(mpbn=False)


def mpbn_resnet19() -> nn.Sequential:
    return _resnet19(mpbn=True)


def mlf_dsresnet56() -> nn.Sequential:
    """MLF DS-ResNet-56 for CIFAR: conv16 + tdBN + MLF, 3 stages of 9 DS blocks (16/32/64), avgpool, readout."""
    layers: list[nn.Module] = [snn.TimeDistributed(nn.Conv2d(3, 16, 3, 1, 1, bias=False)),
                               snn.TDBatchNorm(16, v_th=0.6, eps_inside=False), snn.MLF()]
    c_in = 16
    for stage, c in enumerate((16, 32, 64)):
        for k in range(9):
            layers.append(snn.DSResBlock(c_in, c, 2 if stage and not k else 1))
            c_in = c
    layers += [snn.TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()), snn.Readout(64, 10)]
    return nn.Sequential(*layers)


def psp_preact_resnet110() -> nn.Sequential:
    """Pre-activation ResNet-110 with PSP-norm for CIFAR: conv16, 3 stages of 18 pre-act blocks (16/32/64),
    PSP-norm + LIF, avgpool, readout."""
    layers: list[nn.Module] = [snn.TimeDistributed(nn.Conv2d(3, 16, 3, 1, 1, bias=False))]
    c_in = 16
    for stage, c in enumerate((16, 32, 64)):
        for k in range(18):
            layers.append(snn.PreActBlock(c_in, c, 2 if stage and not k else 1))
            c_in = c
    layers += [snn.PSPNorm(64), snn.LIF(), snn.TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
               snn.Readout(64, 10)]
    return nn.Sequential(*layers)


def dvs_convnet() -> nn.Sequential:
    """LIF conv net on 2x128x128 event frames (DVS-Gesture size): 3 x (conv3x3 + tdBN + LIF + avgpool2), 32/64/128
    channels, fc 11 readout."""
    layers: list[nn.Module] = []
    c_in = 2
    for c in (32, 64, 128):
        layers += [snn.TimeDistributed(nn.Conv2d(c_in, c, 3, 1, 1, bias=False)), snn.TDBatchNorm(c), snn.LIF(),
                   snn.TimeDistributed(nn.AvgPool2d(2))]
        c_in = c
    layers += [snn.TimeDistributed(nn.Flatten()), snn.Readout(128 * 16 * 16, 11)]
    return nn.Sequential(*layers)


NETWORKS: dict[str, tuple[Callable[[], nn.Sequential], tuple[int, int, int], int]] = {
    "tdbn-resnet19": (tdbn_resnet19, (3, 32, 32), 4),
    "mpbn-resnet19": (mpbn_resnet19, (3, 32, 32), 4),
    "mlf-dsresnet56": (mlf_dsresnet56, (3, 32, 32), 4),
    "psp-preact-resnet110": (psp_preact_resnet110, (3, 32, 32), 4),
    "dvs-convnet": (dvs_convnet, (2, 128, 128), 40),
}
"""name -> (builder, input shape, timesteps)."""


def build(name: str, seed: int = 0, batch: int = 8) -> nn.Sequential:
    """The network with random weights and normalization statistics from one train-mode pass on random inputs
    (event frames for the DVS net), so that its neurons fire at realistic rates."""
    builder, shape, timesteps = NETWORKS[name]
    torch.manual_seed(seed)
    model = builder()
    for m in model.modules():
        if isinstance(m, (snn.TDBatchNorm, snn.PSPNorm, snn.MPBNLIF)):
            m.momentum = 1.0
    x = torch.rand(batch, *shape)
    if shape[0] == 2:
        x = (x < 0.1).float()
    model.train()
    with torch.no_grad():
        model(x.expand(timesteps, *x.shape))
    model.eval()
    model.input_shape, model.timesteps = shape, timesteps
    return model
