"""Colours and legend of a picture: one place for both renderers."""

from __future__ import annotations

from typing import Literal

Engine = Literal["auto", "graphviz", "matplotlib"]


COLOURS: dict[str, tuple[str, str]] = {
    # kind: (fill, border)
    "changed": ("#ddf4ff", "#0969da"),
    "added": ("#dafbe1", "#1a7f37"),
    "removed": ("#ffebe9", "#cf222e"),
    "replaced": ("#fff1e5", "#bc4c00"),
    "wrapped": ("#fbefff", "#8250df"),
    "unchanged": ("#f6f8fa", "#8c959f"),
    "elided": ("#ffffff", "#afb8c1"),
}


LEGEND: tuple[tuple[str, str], ...] = (
    ("changed", "field changed"),
    ("added", "added"),
    ("removed", "removed"),
    ("replaced", "replaced"),
    ("wrapped", "wrapped"),
    ("elided", "folded away"),
)
INSTALL_GRAPHVIZ = "apt-get install graphviz, brew install graphviz, or conda install -c conda-forge graphviz"
