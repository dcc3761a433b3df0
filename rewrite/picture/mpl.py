"""Pictures without Graphviz: the layered layout (`rewrite.layered`) drawn with matplotlib.

Coordinates are in points (1/72 inch) from the top left, so box sizes come from
the measured text and the figure is as large as the layout needs; nothing is
scaled down to a fixed page, which is what keeps labels from overlapping.
Only matplotlib's object API is used (no pyplot), so drawing changes no global
state in a notebook.
"""

from __future__ import annotations

import io
from collections.abc import Hashable

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as MPath

from rewrite.picture.layout import layout
from rewrite.picture.scene import Box, Scene
from rewrite.picture.style import COLOURS, LEGEND

FONT = FontProperties(family="DejaVu Sans", size=9)
TITLE_FONT = FontProperties(family="DejaVu Sans", size=11, weight="bold")
PAD_X, PAD_Y, LINE = 8.0, 5.0, 12.0
MARGIN = 16.0
HEADER = 62.0
DPI = 110


class _Measure:
    def __init__(self) -> None:
        self.renderer = RendererAgg(10, 10, 72)  # at 72 dpi a pixel is a point

    def width(self, text: str, font: FontProperties = FONT) -> float:
        w, _, _ = self.renderer.get_text_width_height_descent(text, font, ismath=False)
        return float(w)


def _size(box: Box, measure: _Measure) -> tuple[float, float]:
    lines = box.label()
    return max(measure.width(s) for s in lines) + 2 * PAD_X, len(lines) * LINE + 2 * PAD_Y


def render(scene: Scene, fmt: str) -> bytes:
    """The scene as PNG or SVG bytes."""
    measure = _Measure()
    boxes: dict[Hashable, Box] = {n: d["box"] for n, d in scene.graph.nodes(data=True)}
    sizes = {n: _size(b, measure) for n, b in boxes.items()}
    placed = layout(scene.graph, sizes)
    legend = _legend_items(measure)
    legend_width = legend[-1][1] + legend[-1][2] if legend else 0.0
    width = max(placed.width, legend_width, measure.width(scene.title, TITLE_FONT)) + 2 * MARGIN
    clusters = _clusters(boxes)
    top = HEADER + (16.0 if clusters else 0.0)
    height = placed.height + top + MARGIN
    fig = Figure(figsize=(width / 72, height / 72), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(MARGIN, 20, scene.title, fontproperties=TITLE_FONT, va="center", ha="left", color="#1f2328")
    for kind, x, _width, text in legend:
        fill, border = COLOURS[kind]
        ax.add_patch(_rounded(MARGIN + x, 38, 14, 10, fill, border, kind))
        ax.text(MARGIN + x + 19, 43, text, fontproperties=FONT, va="center", ha="left", color="#1f2328")

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return point[0] + MARGIN, point[1] + top

    for parent, members in clusters.items():
        xs = [at(placed.centres[n])[0] + s * sizes[n][0] / 2 for n in members for s in (-1, 1)]
        ys = [at(placed.centres[n])[1] + s * sizes[n][1] / 2 for n in members for s in (-1, 1)]
        x0, y0 = min(xs) - 8, min(ys) - 16
        patch = FancyBboxPatch((x0, y0), max(xs) + 8 - x0, max(ys) + 8 - y0, boxstyle="round,pad=0,rounding_size=6",
                               facecolor="none", edgecolor="#8c959f", linestyle="--", linewidth=0.8)
        ax.add_patch(patch)
        ax.text(x0 + 6, y0 + 8, parent, fontproperties=FONT, va="center", ha="left", color="#57606a")
    for route in placed.routes.values():
        pts = [at(p) for p in route]
        codes = [MPath.MOVETO] + [MPath.LINETO] * (len(pts) - 1)
        ax.add_patch(FancyArrowPatch(path=MPath(pts, codes), arrowstyle="-|>,head_length=4,head_width=2.2",
                                     color="#8c959f", linewidth=0.9, mutation_scale=1, shrinkA=0, shrinkB=0))
    for n, box in boxes.items():
        cx, cy = at(placed.centres[n])
        w, h = sizes[n]
        fill, border = COLOURS[box.kind]
        ax.add_patch(_rounded(cx - w / 2, cy - h / 2, w, h, fill, border, box.kind))
        lines = box.label()
        for i, line in enumerate(lines):
            y = cy - h / 2 + PAD_Y + LINE * (i + 0.5)
            bold = i == 0 and box.kind != "elided"
            colour = "#57606a" if box.kind == "elided" or i > 0 else "#1f2328"
            ax.text(cx, y, line, fontproperties=FONT, weight="bold" if bold else "normal", va="center", ha="center", color=colour)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "keras-rewrite"}):
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buffer.getvalue()


def _rounded(x: float, y: float, w: float, h: float, fill: str, border: str, kind: str) -> FancyBboxPatch:
    dashed = kind in ("removed", "elided")
    thick = kind not in ("unchanged", "elided")
    return FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=4", facecolor=fill, edgecolor=border,
                          linewidth=1.6 if thick else 0.8, linestyle="--" if dashed else "-")


def _legend_items(measure: _Measure) -> list[tuple[str, float, float, str]]:
    """(kind, x, width, text) for each legend entry, in one row."""
    items = []
    x = 0.0
    for kind, text in LEGEND:
        w = 19 + measure.width(text)
        items.append((kind, x, w, text))
        x += w + 16
    return items


def _clusters(boxes: dict[Hashable, Box]) -> dict[str, list[Hashable]]:
    out: dict[str, list[Hashable]] = {}
    for n, box in boxes.items():
        if box.parent:
            out.setdefault(box.parent, []).append(n)
    return out
