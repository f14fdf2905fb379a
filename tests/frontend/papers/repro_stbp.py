"""A re-implementation of the STBP-tdBN reference code's modules (time-last [B, ..., T]) for the tests."""

from __future__ import annotations

import torch
from torch import nn

STEPS = 3
VTH = 0.2
TAU = 0.25


class _Fire(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        return (v > 0).float()

    @staticmethod
    def backward(ctx, grad):
        return grad


def _step(u_prev, o_prev, drive):
    u = TAU * u_prev * (1 - o_prev) + drive
    return u, _Fire.apply(u - VTH)


class tdLayer(nn.Module):
    def __init__(self, layer: nn.Module, bn: nn.Module | None = None, steps: int = STEPS) -> None:
        super().__init__()
        self.layer, self.bn, self.steps = layer, bn, steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.layer(x[..., 0])
        y = torch.zeros((*first.shape, self.steps), dtype=first.dtype)
        for t in range(self.steps):
            y[..., t] = self.layer(x[..., t])
        return self.bn(y) if self.bn is not None else y


class LIFSpike(nn.Module):
    def __init__(self, steps: int = STEPS) -> None:
        super().__init__()
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = torch.zeros(x.shape[:-1], dtype=x.dtype)
        o = torch.zeros(x.shape)
        for t in range(self.steps):
            u, o[..., t] = _step(u, o[..., max(t - 1, 0)], x[..., t])
        return o


class tdBatchNorm(nn.BatchNorm2d):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, alpha: float = 1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (None, slice(None), None, None, None)
        mean, var = self.running_mean[view], self.running_var[view]
        y = self.alpha * VTH * (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight[view] + self.bias[view] if self.affine else y


class Net(nn.Module):
    """CifarNet-shaped: conv/tdBN/spike twice, a pool, two dense layers, one shared spike module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0_s = tdLayer(nn.Conv2d(2, 6, 3, 1, 1, bias=False), tdBatchNorm(6))
        self.conv1_s = tdLayer(nn.Conv2d(6, 8, 3, 1, 1, bias=False), tdBatchNorm(8))
        self.pool1_s = tdLayer(nn.AvgPool2d(2))
        self.fc1_s = tdLayer(nn.Linear(8 * 4 * 4, 20))
        self.fc2_s = tdLayer(nn.Linear(20, 5))
        self.spike = LIFSpike()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spike(self.conv0_s(x))
        x = self.spike(self.conv1_s(x))
        x = self.spike(self.pool1_s(x))
        x = x.view(x.shape[0], -1, x.shape[4])
        x = self.spike(self.fc1_s(x))
        x = self.spike(self.fc2_s(x))
        return torch.sum(x, dim=2) / STEPS


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1_s = tdLayer(nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False), tdBatchNorm(planes))
        self.conv2_s = tdLayer(nn.Conv2d(planes, planes, 3, 1, 1, bias=False),
                               tdBatchNorm(planes, alpha=1 / (2 ** 0.5)))
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = tdLayer(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                      tdBatchNorm(planes, alpha=1 / (2 ** 0.5)))
        self.spike = LIFSpike()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv2_s(self.spike(self.conv1_s(x)))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.spike(out)


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1_s = tdLayer(nn.Conv2d(2, 4, 3, 1, 1, bias=False), tdBatchNorm(4))
        self.layer1 = nn.Sequential(BasicBlock(4, 4), BasicBlock(4, 6, 2))
        self.avgpool = tdLayer(nn.AdaptiveAvgPool2d((1, 1)))
        self.fc1_s = tdLayer(nn.Linear(6, 5))
        self.spike = LIFSpike()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spike(self.conv1_s(x))
        x = self.layer1(x)
        x = self.avgpool(x)
        x = x.view(x.shape[0], -1, x.shape[4])
        x = self.spike(self.fc1_s(x))
        return torch.sum(x, dim=2) / STEPS
