"""Names in snncompile's ONNX step models, written by targets/onnx/ and read by frontend/onnx/.

A step model computes one timestep; recurrent state crosses steps through paired inputs and outputs:
    x:<input>                    data input [B, ..] of Input node <input>
    state:<n> → state_next:<n>   neuron state of node <n>
    delay:<n> → delay_next:<n>   delay line of node <n>, row d−1 holding <n>'s output of step t − d
The model's metadata key `snncompile` holds JSON {"format", "arithmetic", "outputs", "timesteps"}.
targets/onnx/driver.py (copied verbatim into every artifact, so it imports nothing of snncompile) keeps its own
copy of INPUT_PREFIX, the `<kind>_next:` pairing and READOUT_PREFIX; tests/formats/ checks they agree.
"""

DOMAIN = "snncompile"
"""Domain of snncompile's ONNX functions (neurons, conv, pooling, readouts)."""
METADATA_KEY = "snncompile"
"""Model property holding the JSON metadata."""
FORMAT = "snncompile-step"
"""`format` of a float step model."""
FLOAT_ARITHMETIC = "float64"
"""`arithmetic` of a float step model."""
ARITHMETIC = "loihi-fixed"
"""`arithmetic` of a Loihi integer step model (target onnx-loihi)."""

INPUT_PREFIX = "x:"
STATE_IN = "state:"
STATE_OUT = "state_next:"
DELAY_IN = "delay:"
DELAY_OUT = "delay_next:"

READOUT_PREFIX = "Readout"
"""Functions whose name starts with this are readouts: a runner averages their per-step value over T."""
LIF_PREFIX = "LoihiLIF_in"
READOUT_WINDOW = "ReadoutWindow_in"
READOUT_MEAN = "ReadoutMean_in"
ENCODE = "Encode"
SKIP = "SkipDense"
"""Function names of the Loihi integer step model (<prefix><fan-in>_...)."""
