"""A re-implementation of MLF + DS-ResNet's modules (merged [T·B, ...], T-major) for the tests."""

from __future__ import annotations

import torch
from torch import nn

Vth = 0.6
Vth2 = 1.6
Vth3 = 2.6
tau = 0.25
TimeStep = 3


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, level):
        return torch.gt(u, level).float()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class MLF_unit(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bs = x.shape[0] // TimeStep
        levels = (Vth, Vth2, Vth3)
        us = [torch.zeros((bs, *x.shape[1:]), dtype=x.dtype) for _ in levels]
        o = torch.zeros(x.shape)
        for t in range(TimeStep):
            drive = x[t * bs:(t + 1) * bs, ...]
            us = [tau * u * (1 - _Step.apply(u, v)) + drive for u, v in zip(us, levels, strict=True)]
            o[t * bs:(t + 1) * bs, ...] = sum(_Step.apply(u, v) for u, v in zip(us, levels, strict=True))
        return o


class tdBatchNorm(nn.Module):
    def __init__(self, bn: nn.BatchNorm2d, alpha: float = 1) -> None:
        super().__init__()
        self.bn, self.alpha = bn, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.bn.running_mean[None, :, None, None]
        var = self.bn.running_var[None, :, None, None]
        y = self.alpha * Vth * (x - mean) / (torch.sqrt(var) + self.bn.eps)
        return y * self.bn.weight[None, :, None, None] + self.bn.bias[None, :, None, None]


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, modified: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = tdBatchNorm(nn.BatchNorm2d(planes))
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tdBatchNorm(nn.BatchNorm2d(planes))
        self.spike_func = MLF_unit()
        self.shortcut = nn.Sequential()
        self.modified = modified
        if stride != 1 or in_planes != planes:
            layers = [nn.Conv2d(in_planes, planes, 1, stride, bias=False), tdBatchNorm(nn.BatchNorm2d(planes))]
            self.shortcut = nn.Sequential(*layers, MLF_unit()) if modified else nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.spike_func(self.bn1(self.conv1(x)))))
        if self.modified:
            out = self.spike_func(out)
            out += self.shortcut(x)
        else:
            out += self.shortcut(x)
            out = self.spike_func(out)
        return out


class BLock_Layer(nn.Module):
    def __init__(self, in_planes: int, planes: int, blocks: int, downsample: bool, modified: bool) -> None:
        super().__init__()
        layers = [BasicBlock(in_planes, planes, 2 if downsample else 1, modified)]
        layers += [BasicBlock(planes, planes, 1, modified) for _ in range(1, blocks)]
        self.execute = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.execute(x)


class ResNet(nn.Module):
    def __init__(self, width: int = 4, classes: int = 5, modified: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = tdBatchNorm(nn.BatchNorm2d(width))
        self.layer1 = BLock_Layer(width, width, 1, False, modified)
        self.layer2 = BLock_Layer(width, 2 * width, 1, True, modified)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.voting = nn.Linear(2 * width, classes)
        self.spike_func = MLF_unit()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.spike_func(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = self.avg_pool(out)
        out = self.voting(out.view(out.shape[0], -1))
        bs = int(out.shape[0] / TimeStep)
        o = torch.zeros((bs, *out.shape[1:]))
        for t in range(TimeStep):
            o += out[t * bs:(t + 1) * bs, ...]
        o /= TimeStep
        return o
