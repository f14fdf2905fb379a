"""The `onnx` and `onnx-loihi` targets: one timestep as an ONNX model (float64, or Lava's integer arithmetic)."""
