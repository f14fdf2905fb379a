"""snncompile.nn: trainable SNN layers ([T, B, ...] tensors) whose semantics the compiler reproduces exactly."""

from snncompile.nn.blocks import DSResBlock, PreActBlock, SpikingBasicBlock
from snncompile.nn.layers import Readout, TimeDistributed
from snncompile.nn.neurons import LIF, MLF, S2NN
from snncompile.nn.norms import MPBNLIF, PSPNorm, TDBatchNorm, deployability_penalty, official_mpbn_threshold

__all__ = [
    "LIF", "MLF", "MPBNLIF", "S2NN", "DSResBlock", "PSPNorm", "PreActBlock", "Readout",
    "SpikingBasicBlock", "TDBatchNorm", "TimeDistributed", "deployability_penalty", "official_mpbn_threshold",
]
