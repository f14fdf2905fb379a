"""Op categories as trait base classes mixed into the op classes; passes, rules and targets test isinstance.

A trait carries no fields and no behaviour; it states what an op is, so that a new op joins every pass that
handles its category by naming its traits once, in its class definition. A target's own choice of ops (what
Loihi or NIR accepts) stays that target's data, built from these traits where the choice is a whole category.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from snncompile.ir.base import Op
    from snncompile.ir.graph import Graph


class Neuron:
    """A spiking population: membrane state carried over timesteps, spikes out, its inputs summed as synaptic
    fan-in. Differential checks compare these ops' outputs spike for spike. (LIF, MPBNLIF, LIFExt, LoihiLIF.)"""


class Synapse:
    """A stateless linear map from presynaptic values to a postsynaptic current, fixed weights, one input: what
    can stand for a synapse into a neuron (Dense, Conv2d, and Pool2d as a fixed-weight depthwise one)."""


class WeightedSynapse(Synapse):
    """A Synapse with a `weight` array and an optional `bias`, both rescaled when a per-channel affine is
    folded into it (Dense, Conv2d)."""

    # Declarations for the type checker only (no value: the op dataclass defines the field).
    weight: np.ndarray
    bias: np.ndarray | None


class Pooling:
    """A spatial window op over [C, H, W] (Pool2d sum/avg, MaxPool2d)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


class PassThrough:
    """Moves or copies values without arithmetic (Flatten, Identity): exact under any scaling."""


class Normalization:
    """A normalization that fold-norm removes before any target sees the graph (BatchNorm, PSPNorm, MPBNLIF).
    fold-norm's postcondition and every later pass's precondition (`no-norm-ops`) cover all of them."""


class AffineNorm(Normalization):
    """A per-channel affine y = a·(x − m) + β with fields `weight` (γ, a is proportional to it) and `bias`
    (β, or None). fold-norm folds it through passes/fold_affine.affine_of, which gives (a, m, β)."""

    weight: np.ndarray
    bias: np.ndarray | None


class Output:
    """A readout: a per-step value the host reads (averaged over T); it may not feed other nodes (Readout)."""


class FixedPoint:
    """An op of a Loihi integer graph (targets/loihi/ops.py: LoihiLIF, Encode, SkipDense, WindowReadout)."""


def is_float_neuron(op: Op) -> bool:
    """A Neuron of a float graph (not a FixedPoint op): what the float checks compare layer by layer."""
    return isinstance(op, Neuron) and not isinstance(op, FixedPoint)


def float_neurons(graph: Graph) -> list[Op]:
    """The float Neuron nodes of `graph`, in graph order."""
    return [n for n in graph.nodes if is_float_neuron(n)]
