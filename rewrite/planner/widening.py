"""Net2WiderNet planning: which layers grow, which consumers take the copies."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewrite.graphview.view import GraphView, LayerInfo
from rewrite.lang import ast
from rewrite.planner.plan import plan_error

WIDENABLE = ("Dense", "Conv1D", "Conv2D", "Conv3D")


PER_UNIT = (
    "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Identity", "BatchNormalization",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "DepthwiseConv1D", "DepthwiseConv2D",
)


CONSUMERS = ("Dense", "Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D")


@dataclass
class Widening:
    layer: str
    old: int
    new: int
    mapping: np.ndarray
    per_unit: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.mapping, minlength=self.old).astype(np.float64)


def _kind(info: LayerInfo, names: tuple[str, ...]) -> str | None:
    return next((n for n in info.class_names if n in names), None)


def plan_widening(view: GraphView, info: LayerInfo, old: Any, new: Any, at: ast.AnyStatement) -> Widening:
    """Check that the layer can be widened and find who must follow; raise with why not."""
    if _kind(info, WIDENABLE) is None:
        raise plan_error(at, f"`using weights=widen` grows Dense and convolution layers; `{info.path}` is a {info.class_name}")
    if not (isinstance(old, int) and isinstance(new, int) and new > old):
        raise plan_error(at, f"widening `{info.path}` needs more units than {old} (got {new}); to shrink, use `using weights=slice`")
    if len(info.calls) != 1:
        raise plan_error(at, f"`{info.path}` is called {len(info.calls)} times; widening needs a layer called once")
    rng = np.random.default_rng(zlib.crc32(info.path.encode()))
    mapping = np.concatenate([np.arange(old), rng.integers(0, old, new - old)])
    plan = Widening(info.path, old, new, mapping)
    g = view.graph
    frontier = [info.calls[0]]
    seen: set[str] = set()
    while frontier:
        node = frontier.pop()
        if g.nodes[node].get("is_output"):
            raise plan_error(
                at,
                f"cannot widen `{info.path}`: the output of `{g.nodes[node]['path']}` is a model output, "
                "whose shape would change"
            )
        for _, succ in g.out_edges(node):
            if succ in seen:
                continue
            seen.add(succ)
            data = g.nodes[succ]
            nxt = view.layers.get(data["path"])
            if nxt is None or data["kind"] != "layer":
                raise plan_error(at, f"cannot widen `{info.path}`: it feeds `{data['path']}`, which is not a layer it can adjust")
            if g.in_degree(succ) != 1:
                raise plan_error(
                    at,
                    f"cannot widen `{info.path}`: `{nxt.path}` ({nxt.class_name}) also takes other inputs, "
                    "whose units would no longer line up"
                )
            if _kind(nxt, CONSUMERS) and not _kind(nxt, ("DepthwiseConv1D", "DepthwiseConv2D")):
                plan.consumers.append(nxt.path)
            elif _kind(nxt, PER_UNIT):
                if _kind(nxt, ("DepthwiseConv1D", "DepthwiseConv2D")) and nxt.config.get("depth_multiplier", 1) != 1:
                    raise plan_error(at, f"cannot widen `{info.path}`: `{nxt.path}` has depth_multiplier != 1")
                plan.per_unit.append(nxt.path)
                frontier.append(succ)
            else:
                raise plan_error(
                    at,
                    f"cannot widen `{info.path}`: it feeds `{nxt.path}` ({nxt.class_name}), which mixes units "
                    f"in a way the morphism cannot adjust (it handles {', '.join(CONSUMERS)} after per-unit layers)"
                )
    return plan
