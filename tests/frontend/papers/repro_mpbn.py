"""A re-implementation of the official MPBN code's modules ([T, B, ...] inside SpikeModel) for the tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpikeModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._spiking = False

    def set_spike_state(self, use_spike: bool = True) -> None:
        self._spiking = use_spike

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._spiking is not True and len(x.shape) == 5:
            x = x.mean([0])
        return x


def _fire(v: torch.Tensor, temp: float = 3.0) -> torch.Tensor:
    """Heaviside [v > 0.5] in the forward pass, a tanh surrogate in the backward pass (straight-through)."""
    hard = torch.gt(v, 0.5).to(v.dtype)
    soft = torch.clamp(v, 0, 1)
    soft = (torch.tanh(temp * (soft - 0.5)) + torch.tanh(torch.tensor(temp * 0.5))) / (
        2 * torch.tanh(torch.tensor(temp * 0.5)))
    return (hard - soft).detach() + soft


def _membrane_step(bn: nn.Module, drive: torch.Tensor, mem: torch.Tensor, v_th: float, decay: float):
    mem = mem * decay + drive
    spike = _fire(bn(mem) / v_th)
    return mem * (1 - spike), spike


class LIFAct(SpikeModule):
    def __init__(self, step: int, channel: int) -> None:
        super().__init__()
        self.step = step
        self.V_th = 1.0
        self.temp = 3.0
        self.grad_scale = 0.1
        self.bn = nn.BatchNorm2d(channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._spiking is not True:
            return F.relu(x)
        mem, spikes = torch.zeros_like(x[0]), []
        for t in range(self.step):
            mem, s = _membrane_step(self.bn, x[t], mem, self.V_th, 0.25)
            spikes.append(s)
        return torch.stack(spikes)


class SpikeConv(SpikeModule):
    def __init__(self, conv: nn.Module, step: int = 2) -> None:
        super().__init__()
        self.conv, self.step = conv, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._spiking is not True:
            return self.conv(x)
        return torch.stack([self.conv(x[t]) for t in range(self.step)])


class SpikePool(SpikeModule):
    def __init__(self, pool: nn.Module, step: int = 2) -> None:
        super().__init__()
        self.pool, self.step = pool, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._spiking is not True:
            return self.pool(x)
        steps, batch = x.shape[:2]
        y = self.pool(x.reshape(steps * batch, *x.shape[2:]))
        return y.view(steps, batch, *y.shape[1:]).contiguous()


class myBatchNorm3d(SpikeModule):
    def __init__(self, BN: nn.BatchNorm2d, step: int = 2) -> None:
        super().__init__()
        self.bn = nn.BatchNorm3d(BN.num_features)
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x.permute(1, 2, 0, 3, 4))
        return y.permute(2, 0, 1, 3, 4).contiguous()


class tdBatchNorm2d(nn.BatchNorm2d, SpikeModule):
    def __init__(self, bn: nn.BatchNorm2d, alpha: float) -> None:
        super().__init__(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        self.alpha = alpha
        self.V_th = 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._spiking is not True:
            return super().forward(x)
        c = x.shape[2]
        mean, var = self.running_mean.reshape(1, 1, c, 1, 1), self.running_var.reshape(1, 1, c, 1, 1)
        y = self.alpha * self.V_th * (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight.reshape(1, 1, c, 1, 1) + self.bias.reshape(1, 1, c, 1, 1)


class BasicBlock(nn.Module):
    """The ANN block: takes and returns (pre-activation, activation)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.relu2 = nn.ReLU()

    def forward(self, s):
        _, x = s
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        out += x if self.downsample is None else self.downsample(x)
        return out, self.relu2(out.clone())


class SpikeBasicBlock(SpikeModule):
    def __init__(self, block: BasicBlock, step: int = 2) -> None:
        super().__init__()
        self.step = step
        self.conv1 = SpikePool(block.conv1, step=step)
        self.bn1 = myBatchNorm3d(block.bn1, step=step)
        self.relu1 = LIFAct(step, block.bn1.num_features)
        self.conv2 = SpikePool(block.conv2, step=step)
        self.bn2 = myBatchNorm3d(block.bn2, step=step)
        self.downsample = None if block.downsample is None else nn.Sequential(
            SpikePool(block.downsample[0], step=step), myBatchNorm3d(block.downsample[1], step=step))
        self.output_act = LIFAct(step, block.bn2.num_features)

    def forward(self, s):
        _, x = s
        x = super().forward(x)
        residual = x
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return out, self.output_act(out)


class ResNetCifar(nn.Module):
    """ResNet_Cifar-shaped, small: stem, two blocks (the second downsamples), pool, fc."""

    def __init__(self, width: int = 4, classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(width, width))
        down = nn.Sequential(nn.Conv2d(width, 2 * width, 1, 2, bias=False), nn.BatchNorm2d(2 * width))
        self.layer2 = nn.Sequential(BasicBlock(width, 2 * width, 2, down))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x, is_adain=False, is_drop=False, feat=None):
        if feat is not None:
            return self.fc(feat)
        x = self.relu(self.bn1(self.conv1(x)))
        temp, x = self.layer1((x, x))
        temp, x = self.layer2((temp, x))
        x = self.avgpool(x)
        x = x.view(x.size(0), -1) if len(x.shape) == 4 else x.view(x.size(0), x.size(1), -1)
        return self.fc(x)


class SpikeModel(SpikeModule):
    def __init__(self, model: nn.Module, step: int = 2) -> None:
        super().__init__()
        self.model, self.step, self.channel = model, step, 0
        self._refactor(self.model)

    def _refactor(self, module: nn.Module) -> None:
        for name, child in module.named_children():
            if type(child) is BasicBlock:
                setattr(module, name, SpikeBasicBlock(child, step=self.step))
            elif isinstance(child, nn.Sequential):
                self._refactor(child)
            elif isinstance(child, (nn.Conv2d, nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
                setattr(module, name, SpikePool(child, step=self.step))
            elif isinstance(child, nn.Linear):
                setattr(module, name, SpikeConv(child, step=self.step))
            elif isinstance(child, nn.ReLU):
                setattr(module, name, LIFAct(self.step, self.channel))
            elif isinstance(child, nn.BatchNorm2d):
                setattr(module, name, myBatchNorm3d(child, step=self.step))
                self.channel = child.num_features
            else:
                self._refactor(child)

    def forward(self, x, is_adain=False, is_drop=False):
        x = x.repeat(self.step, 1, 1, 1, 1) if len(x.shape) == 4 else x.permute([1, 0, 2, 3, 4])
        out = self.model(x, is_adain=False, is_drop=False)
        return out.mean([0]) if len(out.shape) == 3 else out

    def set_spike_state(self, use_spike: bool = True) -> None:
        self._spiking = use_spike
        for m in self.model.modules():
            if isinstance(m, SpikeModule):
                m.set_spike_state(use_spike)


def build() -> SpikeModel:
    """What a user's `--factory` for an MPBN checkpoint does (as the repository's eval.py)."""
    model = SpikeModel(ResNetCifar(), step=3)
    model.set_spike_state(True)
    return model
