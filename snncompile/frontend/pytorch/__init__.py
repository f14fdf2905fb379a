"""PyTorch sources: safe checkpoint loading, the torch.fx tracer and the converter table."""
