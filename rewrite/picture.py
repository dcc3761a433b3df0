"""Pictures of a rewrite: the model's graph with what changes marked in colour.

    rewrite.draw(model, "Activation[activation = relu].activation := gelu", "plan.svg")

The boxes and what they mark come from `rewrite.scene`. Graphviz draws the
picture when its `dot` program is on PATH; without it, a layered top-to-bottom
layout computed here (`rewrite.layered`) is drawn with matplotlib
(`rewrite.picture_mpl`). A `.dot` path gets the Graphviz source itself.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Literal

from rewrite.errors import PictureError
from rewrite.report import RewriteReport
from rewrite.scene import MARKED, Box, Scene, build_scene

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
FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}
INSTALL_GRAPHVIZ = "apt-get install graphviz, brew install graphviz, or conda install -c conda-forge graphviz"


@dataclass(frozen=True)
class Picture:
    """A drawn picture, as `rewrite.draw` returns it; shows itself in Jupyter."""

    data: bytes
    format: Literal["svg", "png", "dot"]
    engine: Literal["graphviz", "matplotlib", "none"]
    path: Path | None
    boxes: int
    folded: int
    counts: dict[str, int]

    def _repr_svg_(self) -> str | None:
        return self.data.decode() if self.format == "svg" else None

    def _repr_png_(self) -> bytes | None:
        return self.data if self.format == "png" else None


# ------------------------------------------------------------------ Graphviz


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(scene: Scene) -> str:
    """The scene as Graphviz source: boxes coloured by kind, nested models as clusters, a legend."""
    fill, border = COLOURS["unchanged"]
    lines = [
        f"digraph {_quote(scene.name)} {{",
        f"  graph [rankdir=TB, newrank=true, nodesep=0.25, ranksep=0.3, fontname=Helvetica, fontsize=13, "
        f"labelloc=t, label={_quote(scene.title)}];",
        f'  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=10, margin="0.12,0.04", '
        f'height=0.3, fillcolor="{fill}", color="{border}"];',
        '  edge [color="#8c959f", arrowsize=0.6];',
    ]
    clusters: dict[str, list[str]] = {}
    for nid, data in scene.graph.nodes(data=True):
        box: Box = data["box"]
        clusters.setdefault(box.parent, []).append(_dot_node(nid, box))
    lines += clusters.pop("", [])
    for depth_first in sorted(clusters):
        lines.append(f"  subgraph {_quote('cluster_' + depth_first)} {{")
        lines.append(f'    label={_quote(depth_first)}; style="dashed,rounded"; color="#8c959f"; fontsize=11;')
        lines += ["  " + n for n in clusters[depth_first]]
        lines.append("  }")
    lines += [f"  {_quote(a)} -> {_quote(b)};" for a, b in scene.graph.edges()]
    lines.append('  subgraph cluster_legend {\n    label="legend"; style="rounded"; color="#d0d7de"; fontsize=11;')
    for kind, text in LEGEND:
        lines.append("  " + _dot_node(f"legend:{kind}", Box(f"legend:{kind}", [text], kind)))  # type: ignore[arg-type]
    legend_ids = [_quote(f"legend:{k}") for k, _ in LEGEND]
    lines.append(f"    {{rank=same; {'; '.join(legend_ids)}}}")
    lines.append(f"    {' -> '.join(legend_ids)} [style=invis];\n  }}")
    lines.append("}")
    return "\n".join(lines)


def _dot_label(box: Box) -> str:
    """An HTML-like Graphviz label: the name in bold, the class and notes below it."""
    lines = [escape(x, quote=False) for x in box.label()]
    if box.kind == "elided":
        return "<" + '<BR/>'.join(lines) + ">"
    rest = "".join(f'<BR/><FONT COLOR="#57606a">{x}</FONT>' for x in lines[1:])
    return f"<<B>{lines[0]}</B>{rest}>"


def _dot_node(nid: str, box: Box) -> str:
    fill, border = COLOURS[box.kind]
    attrs = [f"label={_dot_label(box)}"]
    if box.kind != "unchanged":
        attrs += [f'fillcolor="{fill}"', f'color="{border}"', f"class={_quote(box.kind)}"]
    if box.kind in ("removed", "elided"):
        attrs.append('style="rounded,filled,dashed"')
    if box.kind == "elided":
        attrs.append('fontcolor="#57606a"')
    if box.kind in MARKED:
        attrs.append("penwidth=1.6")
    return f"  {_quote(nid)} [{', '.join(attrs)}];"


def graphviz_available() -> bool:
    return shutil.which("dot") is not None


def _run_dot(source: str, fmt: str) -> bytes:
    dot = shutil.which("dot")
    if dot is None:
        raise PictureError(f"engine='graphviz' needs the Graphviz `dot` program on PATH; install Graphviz ({INSTALL_GRAPHVIZ})")
    proc = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()[:3]
        raise PictureError(f"Graphviz `dot -T{fmt}` failed (exit {proc.returncode}): {' '.join(message)}")
    return proc.stdout


# ------------------------------------------------------------------ entry point


def picture_format(path: str | Path | None, fmt: str | None = None) -> Literal["svg", "png", "dot"]:
    """The picture's format: `fmt` if given, else from the path's suffix (svg without a path)."""
    if fmt is None:
        if path is None:
            return "svg"
        suffix = Path(path).suffix.lower()
        if suffix not in FORMATS:
            raise PictureError(
                f"cannot draw {path}: the suffix `{suffix or '(none)'}` names no picture format; "
                f"use one of {', '.join(FORMATS)} (for example plan.svg or plan.png)"
            )
        fmt = FORMATS[suffix]
    if fmt not in ("svg", "png", "dot"):
        raise PictureError(f"format must be 'svg', 'png' or 'dot'. Received: format={fmt!r}")
    return fmt  # type: ignore[return-value]


def draw_scene(scene: Scene, fmt: str, engine: Engine = "auto") -> tuple[bytes, Literal["graphviz", "matplotlib", "none"]]:
    if fmt == "dot":
        return to_dot(scene).encode(), "none"
    if engine not in ("auto", "graphviz", "matplotlib"):
        raise PictureError(f"engine must be 'auto', 'graphviz' or 'matplotlib'. Received: engine={engine!r}")
    if engine == "graphviz" or (engine == "auto" and graphviz_available()):
        return _run_dot(to_dot(scene), fmt), "graphviz"
    try:
        from rewrite.picture_mpl import render
    except ImportError as exc:
        raise PictureError(
            "drawing without Graphviz needs matplotlib: pip install 'keras-rewrite[draw]'; "
            f"or install Graphviz ({INSTALL_GRAPHVIZ}). ({exc})"
        ) from exc
    return render(scene, fmt), "matplotlib"


def draw(
    model: Any,
    report: RewriteReport | None,
    path: str | Path | None = None,
    *,
    context: int = 2,
    max_nodes: int = 60,
    engine: Engine = "auto",
    format: str | None = None,
) -> Picture:
    """Draw `model`'s graph with the changes of `report` marked; write it to `path` if given."""
    from rewrite.graphview import build_view

    fmt = picture_format(path, format)
    scene = build_scene(build_view(model).graph, report, context=context, max_nodes=max_nodes)
    data, used = draw_scene(scene, fmt, engine)
    target = Path(path) if path is not None else None
    if target is not None:
        if not target.parent.is_dir():
            raise PictureError(f"cannot write {target}: the folder {target.parent} does not exist")
        target.write_bytes(data)
    return Picture(data, fmt, used, target, len(scene.graph), scene.folded, dict(scene.counts))
