"""Residual blocks of the supported methods: spiking ResNet (tdBN), pre-activation (PSP-norm), DS-ResNet (MLF)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from snncompile.nn.layers import TimeDistributed
from snncompile.nn.neurons import LIF, MLF
from snncompile.nn.norms import SHORTCUT_ALPHA, PSPNorm, TDBatchNorm


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> TimeDistributed:
    return TimeDistributed(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False))


def conv1x1(c_in: int, c_out: int, stride: int = 1) -> TimeDistributed:
    return TimeDistributed(nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False))


class SpikingBasicBlock(nn.Module):
    """Spiking ResNet block with tdBN (STBP-tdBN / MPBN-repo BasicBlock):
        out = LIF(tdBN_α(conv2(LIF(tdBN(conv1(x))))) + shortcut(x)),  α = 1/√2
        shortcut = x (input spikes) when shapes agree, else tdBN_α(conv1x1(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, v_th: float = 0.5, decay: float = 0.25,
                 eps_inside: bool = True) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv3x3(c_in, c_out, stride), TDBatchNorm(c_out, 1.0, v_th, eps_inside=eps_inside)
        self.lif1 = LIF(decay, v_th)
        self.conv2 = conv3x3(c_out, c_out)
        self.bn2 = TDBatchNorm(c_out, SHORTCUT_ALPHA, v_th, eps_inside=eps_inside)
        self.lif2 = LIF(decay, v_th)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(conv1x1(c_in, c_out, stride),
                                          TDBatchNorm(c_out, SHORTCUT_ALPHA, v_th, eps_inside=eps_inside))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.lif1(self.bn1(self.conv1(x)))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.lif2(out + skip)


class PreActBlock(nn.Module):
    """Pre-activation residual block with PSP-norm; the residual stream carries currents, never spikes:
        a = LIF(PSPNorm(x));  out = conv2(LIF(PSPNorm(conv1(a)))) + shortcut
        shortcut = x when shapes agree, else conv1x1(a) (projection of the activated input)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, v_th: float = 0.5,
                 decay: float = 0.25) -> None:
        super().__init__()
        self.norm1, self.lif1 = PSPNorm(c_in), LIF(decay, v_th)
        self.conv1 = conv3x3(c_in, c_out, stride)
        self.norm2, self.lif2 = PSPNorm(c_out), LIF(decay, v_th)
        self.conv2 = conv3x3(c_out, c_out)
        self.shortcut = conv1x1(c_in, c_out, stride) if stride != 1 or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.lif1(self.norm1(x))
        out = self.conv2(self.lif2(self.norm2(self.conv1(a))))
        skip = x if self.shortcut is None else self.shortcut(a)
        return out + skip


class DSResBlock(nn.Module):
    """DS-ResNet block with MLF neurons (MLF-DSResNet, modified=True); adds spike counts:
        out = MLF(tdBN_α(conv2(MLF(tdBN(conv1(x)))))) + shortcut(x),  α = 1/√2
        shortcut = x when shapes agree, else MLF(tdBN_α(conv1x1(x)))."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, thresholds: Sequence[float] = (0.6, 1.6, 2.6),
                 decay: float = 0.25, v_th: float = 0.6, eps_inside: bool = False) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv3x3(c_in, c_out, stride), TDBatchNorm(c_out, 1.0, v_th, eps_inside=eps_inside)
        self.mlf1 = MLF(thresholds, decay)
        self.conv2 = conv3x3(c_out, c_out)
        self.bn2 = TDBatchNorm(c_out, SHORTCUT_ALPHA, v_th, eps_inside=eps_inside)
        self.mlf2 = MLF(thresholds, decay)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                conv1x1(c_in, c_out, stride),
                TDBatchNorm(c_out, SHORTCUT_ALPHA, v_th, eps_inside=eps_inside), MLF(thresholds, decay))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.mlf2(self.bn2(self.conv2(self.mlf1(self.bn1(self.conv1(x))))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return out + skip
