"""The package version, in one place (a leaf: provenance records it)."""

__version__ = "0.1.0"
