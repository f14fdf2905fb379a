"""The package version, in its own module so that api, cli and targets read it without importing the package."""

__version__ = "0.1.0"
