"""A scene as Graphviz DOT, and the `dot` program that draws it."""

from __future__ import annotations

import shutil
import subprocess
from html import escape

from rewrite.errors import PictureError
from rewrite.picture.scene import MARKED, Box, Scene
from rewrite.picture.style import COLOURS, INSTALL_GRAPHVIZ, LEGEND
from rewrite.report import dot


def scene_to_dot(scene: Scene) -> str:
    """The scene as Graphviz source: boxes coloured by kind, nested models as clusters, a legend."""
    fill, border = COLOURS["unchanged"]
    lines = [
        f"digraph {dot.quote(scene.name)} {{",
        f"  graph [rankdir=TB, newrank=true, nodesep=0.25, ranksep=0.3, fontname=Helvetica, fontsize=13, "
        f"labelloc=t, label={dot.quote(scene.title)}];",
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
        lines.append(f"  subgraph {dot.quote('cluster_' + depth_first)} {{")
        lines.append(f'    label={dot.quote(depth_first)}; style="dashed,rounded"; color="#8c959f"; fontsize=11;')
        lines += ["  " + n for n in clusters[depth_first]]
        lines.append("  }")
    lines += [dot.edge(a, b) for a, b in scene.graph.edges()]
    lines.append('  subgraph cluster_legend {\n    label="legend"; style="rounded"; color="#d0d7de"; fontsize=11;')
    for kind, text in LEGEND:
        lines.append("  " + _dot_node(f"legend:{kind}", Box(f"legend:{kind}", [text], kind)))  # type: ignore[arg-type]
    legend_ids = [dot.quote(f"legend:{k}") for k, _ in LEGEND]
    lines.append(f"    {{rank=same; {'; '.join(legend_ids)}}}")
    lines.append(f"    {' -> '.join(legend_ids)} [style=invis];\n  }}")
    lines.append("}")
    return "\n".join(lines)


def _dot_label(box: Box) -> dot.HtmlLabel:
    """An HTML-like Graphviz label: the name in bold, the class and notes below it."""
    lines = [escape(x, quote=False) for x in box.label()]
    if box.kind == "elided":
        return dot.HtmlLabel("<" + "<BR/>".join(lines) + ">")
    rest = "".join(f'<BR/><FONT COLOR="#57606a">{x}</FONT>' for x in lines[1:])
    return dot.HtmlLabel(f"<<B>{lines[0]}</B>{rest}>")


def _dot_node(nid: str, box: Box) -> str:
    fill, border = COLOURS[box.kind]
    attrs: dict[str, object] = {"label": _dot_label(box)}
    if box.kind != "unchanged":
        attrs.update(fillcolor=fill, color=border)
        attrs["class"] = box.kind
    if box.kind in ("removed", "elided"):
        attrs["style"] = "rounded,filled,dashed"
    if box.kind == "elided":
        attrs["fontcolor"] = "#57606a"
    if box.kind in MARKED:
        attrs["penwidth"] = 1.6
    return dot.node(nid, attrs)


def graphviz_available() -> bool:
    return shutil.which("dot") is not None


def run_dot(source: str, fmt: str) -> bytes:
    dot = shutil.which("dot")
    if dot is None:
        raise PictureError(f"engine='graphviz' needs the Graphviz `dot` program on PATH; install Graphviz ({INSTALL_GRAPHVIZ})")
    proc = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()[:3]
        raise PictureError(f"Graphviz `dot -T{fmt}` failed (exit {proc.returncode}): {' '.join(message)}")
    return proc.stdout
