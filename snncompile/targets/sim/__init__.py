"""The `sim` target (float reference IR written as JSON + npz)."""

from snncompile.targets.sim.target import SIM, SimTarget

__all__ = ["SIM", "SimTarget"]
