"""The `keras-rewrite` command line (`rewrite.cli:main` is the console script)."""

from rewrite.cli.main import main

__all__ = ["main"]
