"""Pictures of a rewrite: the model's graph with what changes marked in colour."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rewrite.errors import PictureError
from rewrite.graphview.view import build_view
from rewrite.picture.graphviz import graphviz_available, run_dot, scene_to_dot
from rewrite.picture.scene import Scene, build_scene
from rewrite.picture.style import INSTALL_GRAPHVIZ, Engine
from rewrite.report.data import ReportData

FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}




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
        return scene_to_dot(scene).encode(), "none"
    if engine not in ("auto", "graphviz", "matplotlib"):
        raise PictureError(f"engine must be 'auto', 'graphviz' or 'matplotlib'. Received: engine={engine!r}")
    if engine == "graphviz" or (engine == "auto" and graphviz_available()):
        return run_dot(scene_to_dot(scene), fmt), "graphviz"
    try:
        from rewrite.picture.mpl import render  # matplotlib is optional: the [draw] extra
    except ImportError as exc:
        raise PictureError(
            "drawing without Graphviz needs matplotlib: pip install 'keras-rewrite[draw]'; "
            f"or install Graphviz ({INSTALL_GRAPHVIZ}). ({exc})"
        ) from exc
    return render(scene, fmt), "matplotlib"


def draw(
    model: Any,
    report: ReportData | None,
    path: str | Path | None = None,
    *,
    context: int = 2,
    max_nodes: int = 60,
    engine: Engine = "auto",
    format: str | None = None,
) -> Picture:
    """Draw `model`'s graph with the changes of `report` marked; write it to `path` if given."""

    fmt = picture_format(path, format)
    scene = build_scene(build_view(model).graph, report, context=context, max_nodes=max_nodes)
    data, used = draw_scene(scene, fmt, engine)
    target = Path(path) if path is not None else None
    if target is not None:
        if not target.parent.is_dir():
            raise PictureError(f"cannot write {target}: the folder {target.parent} does not exist")
        target.write_bytes(data)
    return Picture(data, fmt, used, target, len(scene.graph), scene.folded, dict(scene.counts))
