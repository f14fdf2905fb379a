"""Converters for SNN libraries (spikingjelly, snntorch, norse), imported only when the library is in use."""
