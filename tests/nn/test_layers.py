"""TimeDistributed, Readout and the residual blocks: per-step semantics, shapes and shortcut structure."""

from __future__ import annotations

import torch
from torch import nn

from snncompile import nn as snn


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_time_distributed_applies_each_step_alone() -> None:
    torch.manual_seed(0)
    inner = [nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4)]
    td = snn.TimeDistributed(*inner).double()
    x = rand(5, 2, 2, 4, 4)
    y = td(x)
    assert y.shape == (5, 2, 4)
    seq = nn.Sequential(*inner)
    for t in range(5):
        assert torch.allclose(y[t], seq(x[t]))


def test_time_distributed_inner_flatten_keeps_batch() -> None:
    y = snn.TimeDistributed(nn.Flatten())(rand(3, 2, 4, 5, 5))
    assert y.shape == (3, 2, 100)


def test_readout_averages_affine_outputs_over_time() -> None:
    torch.manual_seed(0)
    head = snn.Readout(4, 3).double()
    x = rand(6, 2, 4)
    y = head(x)
    assert y.shape == (2, 3)
    expected = sum(x[t] @ head.fc.weight.T + head.fc.bias for t in range(6)) / 6
    assert torch.allclose(y, expected)
    assert snn.Readout(4, 3, bias=False).fc.bias is None


def test_spiking_basic_block_shapes_and_shortcut() -> None:
    same, down = snn.SpikingBasicBlock(3, 3), snn.SpikingBasicBlock(3, 4, stride=2)
    assert same.shortcut is None and down.shortcut is not None
    assert same.bn2.alpha == down.shortcut[1].alpha == 1 / 2 ** 0.5  # α = 1/√2 on the branch end
    x = (rand(4, 2, 3, 6, 6) > 0).double()
    assert same.double().eval()(x).shape == (4, 2, 3, 6, 6)
    out = down.double().eval()(x)
    assert out.shape == (4, 2, 4, 3, 3)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_preact_block_adds_currents() -> None:
    torch.manual_seed(0)
    block = snn.PreActBlock(3, 3).double().eval()
    x = rand(4, 2, 3, 5, 5)
    out = block(x)
    # residual stream of currents: out − x is the conv branch, which is not spike-valued
    branch = block.conv2(block.lif2(block.norm2(block.conv1(block.lif1(block.norm1(x))))))
    assert torch.allclose(out, branch + x)
    down = snn.PreActBlock(3, 5, stride=2).double().eval()
    assert down(x).shape == (4, 2, 5, 3, 3)


def test_ds_block_adds_spike_counts() -> None:
    torch.manual_seed(0)
    block = snn.DSResBlock(3, 3).double().eval()
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.weight.fill_(4.0)
    x = torch.randint(0, 4, (4, 2, 3, 5, 5)).double()
    out = block(x)
    assert torch.equal(out, out.round())  # integer counts
    assert 0 <= out.min() and out.max() <= 6
    assert (out - x).max() >= 2  # the MLF branch itself fires more than one level
    down = snn.DSResBlock(3, 4, stride=2).double().eval()
    assert down(x).shape == (4, 2, 4, 3, 3)
    assert isinstance(down.shortcut[2], snn.MLF)
