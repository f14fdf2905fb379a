"""The snncompile intermediate representation: frozen ops, graphs, verification, printing, serialization."""

from snncompile.ir import ops_ext, traits
from snncompile.ir.base import OP_REGISTRY, Edge, Op, Shape, ShapeError, compact_param, expand_param, param_fits
from snncompile.ir.graph import Graph
from snncompile.ir.ops_neuron import LIF, MPBNLIF, Readout
from snncompile.ir.ops_norm import BatchNorm, PSPNorm
from snncompile.ir.ops_synapse import Add, Conv2d, Dense, Flatten, Identity, Input, MaxPool2d, Pool2d
from snncompile.ir.printer import print_graph
from snncompile.ir.verify import verify, verify_or_raise

__all__ = [
    "LIF",
    "MPBNLIF",
    "OP_REGISTRY",
    "Add",
    "BatchNorm",
    "Conv2d",
    "Dense",
    "Edge",
    "Flatten",
    "Graph",
    "Identity",
    "Input",
    "MaxPool2d",
    "Op",
    "PSPNorm",
    "Pool2d",
    "Readout",
    "Shape",
    "ShapeError",
    "compact_param",
    "expand_param",
    "ops_ext",
    "param_fits",
    "print_graph",
    "traits",
    "verify",
    "verify_or_raise",
]
