"""Op categories come from the trait base classes of the op classes (ir/traits.py)."""

from __future__ import annotations

from snncompile import ir
from snncompile.ir import traits
from snncompile.passes.fold_affine import channel_affine
from snncompile.targets.loihi import ops as loihi_ops


def members(trait: type) -> set[str]:
    """The package's op kinds with `trait` (test modules register op classes of their own in OP_REGISTRY)."""
    return {kind for kind, cls in ir.OP_REGISTRY.items()
            if issubclass(cls, trait) and cls.__module__.startswith("snncompile.")}


def test_categories() -> None:
    assert loihi_ops.LoihiLIF.kind in ir.OP_REGISTRY
    assert members(traits.Neuron) == {"lif", "mpbn_lif", "lif_ext", "scheduled_lif", "loihi_lif"}
    assert members(traits.Synapse) == {"dense", "conv2d", "pool2d"}
    assert members(traits.WeightedSynapse) == {"dense", "conv2d"}
    assert members(traits.Pooling) == {"pool2d", "maxpool2d"}
    assert members(traits.PassThrough) == {"flatten", "identity"}
    assert members(traits.Normalization) == {"batchnorm", "pspnorm", "mpbn_lif"}
    assert members(traits.AffineNorm) == {"batchnorm", "pspnorm"}
    assert members(traits.Output) == {"readout", "window_readout"}
    assert members(traits.FixedPoint) == {"loihi_lif", "encode", "skip_dense", "window_readout"}


def test_float_neurons_exclude_fixed_point() -> None:
    lif = ir.LIF("lif", (ir.Edge("x"),), decay=[0.5], threshold=[[1.0]])
    fixed = loihi_ops.LoihiLIF.__new__(loihi_ops.LoihiLIF)
    assert traits.is_float_neuron(lif)
    assert not traits.is_float_neuron(fixed)


def test_every_affine_norm_has_its_fold() -> None:
    for kind, cls in ir.OP_REGISTRY.items():
        if issubclass(cls, traits.AffineNorm):
            assert channel_affine.dispatch(cls) is not channel_affine.dispatch(object), kind
