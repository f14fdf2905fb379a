"""ONNX sources: snncompile step models (float and Loihi integer) and PyTorch step modules exported to ONNX."""
