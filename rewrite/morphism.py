"""Function-preserving widening (Net2WiderNet) for `using weights=widen`.

Growing a layer from n to m units: unit j < n keeps its weights; each new unit
copies a randomly chosen existing one (`mapping[j]`). Layers that act on each unit
alone (activations, dropout, BatchNormalization, pooling, a depthwise convolution)
take the same copies. The consumers (the next Dense or convolution) read each
copied unit's row divided by how many copies it now has, so the sum they compute
is unchanged and the widened model computes exactly what the original did.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewrite.errors import PlanError
from rewrite.graphview import GraphView, LayerInfo

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


def plan_widening(view: GraphView, info: LayerInfo, old: Any, new: Any, where: str) -> Widening:
    """Check that the layer can be widened and find who must follow; raise with why not."""
    if _kind(info, WIDENABLE) is None:
        raise PlanError(f"{where}: `using weights=widen` grows Dense and convolution layers; `{info.path}` is a {info.class_name}")
    if not (isinstance(old, int) and isinstance(new, int) and new > old):
        raise PlanError(f"{where}: widening `{info.path}` needs more units than {old} (got {new}); to shrink, use `using weights=slice`")
    if len(info.calls) != 1:
        raise PlanError(f"{where}: `{info.path}` is called {len(info.calls)} times; widening needs a layer called once")
    rng = np.random.default_rng(zlib.crc32(info.path.encode()))
    mapping = np.concatenate([np.arange(old), rng.integers(0, old, new - old)])
    plan = Widening(info.path, old, new, mapping)
    g = view.graph
    frontier = [info.calls[0]]
    seen: set[str] = set()
    while frontier:
        node = frontier.pop()
        if g.nodes[node].get("is_output"):
            raise PlanError(
                f"{where}: cannot widen `{info.path}`: the output of `{g.nodes[node]['path']}` is a model output, "
                "whose shape would change"
            )
        for _, succ in g.out_edges(node):
            if succ in seen:
                continue
            seen.add(succ)
            data = g.nodes[succ]
            nxt = view.layers.get(data["path"])
            if nxt is None or data["kind"] != "layer":
                raise PlanError(f"{where}: cannot widen `{info.path}`: it feeds `{data['path']}`, which is not a layer it can adjust")
            if g.in_degree(succ) != 1:
                raise PlanError(
                    f"{where}: cannot widen `{info.path}`: `{nxt.path}` ({nxt.class_name}) also takes other inputs, "
                    "whose units would no longer line up"
                )
            if _kind(nxt, CONSUMERS) and not _kind(nxt, ("DepthwiseConv1D", "DepthwiseConv2D")):
                plan.consumers.append(nxt.path)
            elif _kind(nxt, PER_UNIT):
                if _kind(nxt, ("DepthwiseConv1D", "DepthwiseConv2D")) and nxt.config.get("depth_multiplier", 1) != 1:
                    raise PlanError(f"{where}: cannot widen `{info.path}`: `{nxt.path}` has depth_multiplier != 1")
                plan.per_unit.append(nxt.path)
                frontier.append(succ)
            else:
                raise PlanError(
                    f"{where}: cannot widen `{info.path}`: it feeds `{nxt.path}` ({nxt.class_name}), which mixes units "
                    f"in a way the morphism cannot adjust (it handles {', '.join(CONSUMERS)} after per-unit layers)"
                )
    return plan


def _arr(var: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(var.value))


def widen_weights(w: Widening, path: str, pairs: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """Assign the widened values to the new variables; return the pairs it set."""
    done = []
    for key, a, b in pairs:
        old = _arr(a)
        if tuple(old.shape) == tuple(b.shape):
            continue
        if path == w.layer:
            value = np.take(old, w.mapping, axis=-1)  # kernel's output axis, bias
        elif path in w.per_unit:
            axis = -2 if old.ndim > 1 else -1  # a depthwise kernel's channel axis, or per-unit vectors
            value = np.take(old, w.mapping, axis=axis)
        elif path in w.consumers:
            axis = 0 if old.ndim == 2 else old.ndim - 2  # Dense rows, or a kernel's input-channel axis
            shape = [1] * old.ndim
            shape[axis] = len(w.mapping)
            value = np.take(old, w.mapping, axis=axis) / w.counts[w.mapping].reshape(shape)
        else:
            continue
        if tuple(value.shape) != tuple(b.shape):
            raise PlanError(f"widening: `{path}/{key}` came out as {value.shape}, the layer needs {tuple(b.shape)}")
        b.assign(value.astype(old.dtype))
        done.append((key, a, b))
    return done
