"""Benchmarks: keras-rewrite against the hand-written clone_model baseline.

Run with ``python -m benchmarks`` (``make bench``); ``--help`` lists the options.
See docs/benchmarks.md for what is measured and the figures of the last run.

Timings are printed and written to JSON, never asserted: the test suite only runs
``python -m benchmarks --quick`` to check that the script still works.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (see ``python -m benchmarks --help``); returns the exit code."""
    from benchmarks.suite import main as _main

    return _main(argv)
