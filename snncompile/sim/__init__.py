"""Graph simulators: the float reference interpreter (the oracle for every pass), streamed in time chunks."""

from snncompile.sim import float_ext  # noqa: F401  (registers library-neuron numerics)
from snncompile.sim.carry import Carry
from snncompile.sim.float_ops import FLOAT_OPS, implements
from snncompile.sim.interpreter import SimResult, simulate

__all__ = ["FLOAT_OPS", "Carry", "SimResult", "implements", "simulate"]
