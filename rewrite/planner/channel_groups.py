"""Channel groups: which layers must lose the same channels when one layer's output shrinks.

The graph is walked in call order, and every tensor's last (channel) axis gets a
`Layout`: the channel groups it is made of, in order (a Concatenate puts its
inputs' groups side by side), repeated once per position after a Flatten. A layer
whose output channels can shrink (Conv1D/2D/3D, Dense) starts a group. Layers that
treat each channel on its own (BatchNormalization, DepthwiseConv, activations,
pooling, padding, PReLU ...) carry their input's layout through and are members of
its groups; elementwise merges (Add, Multiply, ...) join the groups of their inputs
into one, so a residual stream is one group. The layers that read the channels
(the next Conv's or Dense's input rows) are the consumers.

Anything the walk does not know that touches the channel axis pins the groups that
reach it, with the reason: their channel count cannot change. So does a model
output, the model input, and a channel-mixing activation such as softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import networkx as nx
import numpy as np

from rewrite import _keras_private as keras_private
from rewrite.graphview.view import GraphView

PRODUCERS = ("Conv1D", "Conv2D", "Conv3D", "Dense")
NOT_PRODUCERS = ("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
PER_CHANNEL = (
    "BatchNormalization", "LayerNormalization", "DepthwiseConv1D", "DepthwiseConv2D", "PReLU",
    "Activation", "ReLU", "LeakyReLU", "ELU", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "Identity", "ActivityRegularization",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
)
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
CHANNEL_MIXING = ("softmax", "log_softmax")
"""Activations that read across channels: removing even a zero channel changes them."""


@dataclass(frozen=True)
class Layout:
    """The channel axis of a tensor: groups side by side, the whole repeated `repeat` times (after a Flatten)."""

    segments: tuple[tuple[int, int], ...]
    """(group id, channels) in order."""
    repeat: int = 1

    @property
    def width(self) -> int:
        return sum(n for _, n in self.segments)

    @property
    def size(self) -> int:
        return self.repeat * self.width


@dataclass
class ChannelGroup:
    """Channels that are removed together: one index space shared by its producers and members."""

    id: int
    size: int
    producers: list[str] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)
    """Why its channel count cannot change (empty: it can be pruned)."""


@dataclass
class LayerRole:
    """How one layer's weights follow the channels of a layout."""

    kind: Literal["producer", "consumer", "member", "reshape"]
    layout: Layout


class ChannelGroups:
    """The groups of a model and every layer's role in them (ids are merged by union-find)."""

    def __init__(self) -> None:
        self.groups: dict[int, ChannelGroup] = {}
        self.parent: dict[int, int] = {}
        self.roles: dict[str, list[LayerRole]] = {}
        self.by_producer: dict[str, int] = {}
        self.nested_inputs: dict[str, Layout] = {}
        """The layouts of nested models' inputs, by graph node (their Input must take the pruned width)."""

    # ------------------------------------------------------------ union-find

    def new(self, size: int, producer: str | None = None, pinned: str | None = None) -> int:
        gid = len(self.groups)
        self.groups[gid] = ChannelGroup(gid, size, [producer] if producer else [], [pinned] if pinned else [])
        self.parent[gid] = gid
        return gid

    def find(self, gid: int) -> int:
        while self.parent[gid] != gid:
            self.parent[gid] = self.parent[self.parent[gid]]
            gid = self.parent[gid]
        return gid

    def group(self, gid: int) -> ChannelGroup:
        return self.groups[self.find(gid)]

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        ra, rb = min(ra, rb), max(ra, rb)
        self.parent[rb] = ra
        ga, gb = self.groups[ra], self.groups[rb]
        ga.producers += [p for p in gb.producers if p not in ga.producers]
        ga.pinned += [r for r in gb.pinned if r not in ga.pinned]

    def pin(self, layout: Layout | None, reason: str) -> None:
        for gid, _ in layout.segments if layout else ():
            g = self.group(gid)
            if reason not in g.pinned:
                g.pinned.append(reason)

    def unify(self, layouts: list[Layout], reason: str) -> bool:
        """Make same-position channels of `layouts` one group; pin them all when their structures differ."""
        first = layouts[0]
        for other in layouts[1:]:
            if other.repeat != first.repeat or [n for _, n in other.segments] != [n for _, n in first.segments]:
                for layout in layouts:
                    self.pin(layout, reason)
                return False
        for other in layouts[1:]:
            for (a, _), (b, _) in zip(first.segments, other.segments):
                self.union(a, b)
        return True

    # --------------------------------------------------------------- queries

    def roots(self) -> list[int]:
        """Groups with producers, in the order their first producer appears."""
        return sorted({self.find(g) for g in self.groups if self.groups[self.find(g)].producers})

    def members(self, root: int) -> list[str]:
        """Every layer whose weights follow the group's channels (producers included)."""
        return [path for path, roles in self.roles.items() if any(self.find(g) == root for r in roles for g, _ in r.layout.segments)]

    def indices(self, layout: Layout, kept: dict[int, np.ndarray]) -> np.ndarray:
        """The positions along a tensor's channel axis that stay, given the kept channels per group root."""
        parts, offset = [], 0
        for gid, n in layout.segments:
            chosen = kept.get(self.find(gid))
            parts.append(offset + (np.arange(n) if chosen is None else chosen))
            offset += n
        base = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if layout.repeat == 1:
            return base
        return (np.arange(layout.repeat)[:, None] * offset + base[None, :]).ravel()

    def touched(self, layout: Layout, kept: dict[int, np.ndarray]) -> bool:
        return any(self.find(g) in kept for g, _ in layout.segments)


def _has(cls_names: tuple[str, ...], names: tuple[str, ...]) -> bool:
    return any(n in names for n in cls_names)


def _last(shape: Any) -> int | None:
    if not shape or shape[-1] is None:
        return None
    return int(shape[-1])


class _Walker:
    def __init__(self, view: GraphView):
        self.view = view
        self.g = view.graph
        self.cg = ChannelGroups()
        self.out: dict[tuple[str, int], Layout] = {}
        self.by_parent: dict[str, list[str]] = {}
        for nid, data in self.g.nodes(data=True):
            self.by_parent.setdefault(data["parent"], []).append(nid)

    def fixed(self, shape: Any, reason: str) -> Layout | None:
        width = _last(shape)
        if width is None:
            return None
        return Layout(((self.cg.new(width, pinned=reason), width),))

    def role(self, path: str, kind: Literal["producer", "consumer", "member", "reshape"], layout: Layout) -> None:
        roles = self.cg.roles.setdefault(path, [])
        for r in roles:
            if r.kind == kind:  # a shared layer: every call must see the same channels
                self.cg.unify([r.layout, layout], f"`{path}` is called on tensors whose channels differ")
                return
        roles.append(LayerRole(kind, layout))

    def walk(self, parent: str, bound: list[Layout | None] | None) -> None:
        nodes = self.by_parent.get(parent, [])
        order = list(nx.topological_sort(self.g.subgraph(nodes)))
        model = self.view.model if not parent else self.view.layers[parent].layer
        inputs = [self._input_node(parent, t) for t in _flat(model, "inputs")]
        for nid in order:
            data = self.g.nodes[nid]
            edges = sorted(self.g.in_edges(nid, data=True), key=lambda e: e[2]["arg"])
            ins = [self.out.get((src, d["tensor_index"])) for src, _, d in edges]
            shapes = data.get("output_shapes") or []
            if data["kind"] == "input":
                position = inputs.index(nid) if nid in inputs else -1
                given = bound[position] if bound is not None and 0 <= position < len(bound) else None
                layout = given or self.fixed(shapes[0] if shapes else None, "its channels come from the model input")
                if layout is not None:
                    self.out[(nid, 0)] = layout
                    if parent:
                        self.cg.nested_inputs[nid] = layout
                continue
            outs = self.node(nid, data, ins, [e[2].get("shape") for e in edges], shapes)
            for i, layout in enumerate(outs):
                if layout is not None:
                    self.out[(nid, i)] = layout
            if data.get("is_output") and not parent:
                for layout in outs:
                    self.cg.pin(layout, f"it reaches the model output through `{data['path']}`")

    def _input_node(self, parent: str, tensor: Any) -> str | None:
        found = keras_private.tensor_history(tensor)
        if found is None:
            return None
        prefix = f"{parent}/" if parent else ""
        return f"{prefix}{found[0].name}#0"

    def node(self, nid: str, data: dict[str, Any], ins: list[Layout | None], in_shapes: list[Any], shapes: list[Any]) -> list[Layout | None]:
        path, layer = data["path"], data["layer"]
        if data["kind"] == "model":
            return self.nested(nid, path, layer, ins, shapes)
        names = self.view.layers[path].class_names if path in self.view.layers else (data["cls"],)
        cls = data["cls"]

        def unknown(why: str) -> list[Layout | None]:
            for layout in ins:
                self.cg.pin(layout, why)
            return [self.fixed(s, f"its channels come from `{path}` ({cls}), whose output pruning does not shrink") for s in shapes]

        if data["kind"] != "layer":
            return unknown(f"it feeds `{path}`, a raw operation pruning does not follow")
        config = self.view.layers[path].config if path in self.view.layers else {}
        known = [layout for layout in ins if layout is not None]
        if len(known) != len(ins):
            return unknown(f"it feeds `{path}` ({cls}), whose input has no known channel count")
        if config.get("data_format") == "channels_first":
            return unknown(f"it feeds `{path}` ({cls}), which works channels-first")
        if _has(names, PRODUCERS) and not _has(names, NOT_PRODUCERS):
            return [self.producer(path, cls, config, ins, shapes)]
        if len(ins) == 1 and _has(names, PER_CHANNEL):
            return self.per_channel(path, cls, names, config, known[0], shapes)
        if _has(names, MERGES) and len(ins) > 1:
            if any(s != in_shapes[0] for s in in_shapes[1:]):
                return unknown(f"it feeds `{path}` ({cls}), which broadcasts inputs of different shapes")
            self.cg.unify([x for x in ins if x is not None], f"`{path}` ({cls}) joins channels grouped differently")
            return [ins[0]]
        if "Concatenate" in names and len(ins) > 1:
            rank = len(shapes[0]) if shapes and shapes[0] is not None else 0
            axis = config.get("axis", -1)
            if axis in (-1, rank - 1):
                if any(x is not None and x.repeat != 1 for x in ins):
                    return unknown(f"it feeds `{path}` (Concatenate) after a Flatten")
                return [Layout(tuple(seg for x in ins if x is not None for seg in x.segments))]
            self.cg.unify([x for x in ins if x is not None], f"`{path}` (Concatenate) joins channels grouped differently")
            return [ins[0]]
        if len(ins) == 1 and ("Flatten" in names or "Reshape" in names):
            return [self.flatten(path, cls, names, known[0], in_shapes[0], shapes[0] if shapes else None)]
        return unknown(f"it feeds `{path}` ({cls}), which pruning does not know how to follow")

    def producer(self, path: str, cls: str, config: dict[str, Any], ins: list[Layout | None], shapes: list[Any]) -> Layout | None:
        layer = self.view.layers[path].layer
        (layout,) = ins if len(ins) == 1 else (None,)
        kernel = getattr(layer, "kernel", None)
        if layout is None or kernel is None or len(ins) != 1:
            for x in ins:
                self.cg.pin(x, f"it feeds `{path}` ({cls}), called in a way pruning does not follow")
            return self.fixed(shapes[0] if shapes else None, f"`{path}` is called in a way pruning does not follow")
        groups = config.get("groups", 1)
        if groups != 1:
            self.cg.pin(layout, f"it feeds `{path}`, a grouped convolution (groups={groups}), whose channels pruning does not regroup")
        elif int(kernel.shape[-2]) != layout.size:
            self.cg.pin(layout, f"`{path}` reads {int(kernel.shape[-2])} input channels, not the {layout.size} traced")
        else:
            self.role(path, "consumer", layout)
        width = int(kernel.shape[-1])
        if path not in self.cg.by_producer:
            self.cg.by_producer[path] = self.cg.new(width, producer=path)
        gid = self.cg.by_producer[path]
        out = Layout(((gid, width),))
        self.role(path, "producer", out)
        if groups != 1:
            self.cg.pin(out, f"`{path}` is a grouped convolution (groups={groups})")
        if config.get("activation") in CHANNEL_MIXING:
            self.cg.pin(out, f"`{path}` applies {config['activation']}, which reads across its channels")
        return out

    def per_channel(self, path: str, cls: str, names: tuple[str, ...], config: dict[str, Any], layout: Layout, shapes: list[Any]) -> list[Layout | None]:
        layer = self.view.layers[path].layer
        out_width = _last(shapes[0]) if shapes else None
        if out_width != layout.size:
            self.cg.pin(layout, f"it feeds `{path}` ({cls}), whose output has {out_width} channels, not {layout.size}")
            return [self.fixed(shapes[0] if shapes else None, f"its channels come from `{path}` ({cls})")]
        if config.get("depth_multiplier", 1) != 1:
            self.cg.pin(layout, f"it feeds `{path}` ({cls}) with depth_multiplier={config['depth_multiplier']}, which pruning does not follow")
            return [self.fixed(shapes[0], f"its channels come from `{path}` ({cls}) with depth_multiplier > 1")]
        if config.get("activation") in CHANNEL_MIXING or (cls == "Activation" and config.get("activation") in CHANNEL_MIXING):
            self.cg.pin(layout, f"it feeds `{path}` ({cls}), whose {config['activation']} reads across channels")
        axis = config.get("axis", -1)
        rank = len(shapes[0]) if shapes[0] is not None else 0
        if "BatchNormalization" in names or "LayerNormalization" in names:
            axes = axis if isinstance(axis, (list, tuple)) else [axis]
            if [a % rank for a in axes] != [rank - 1]:
                self.cg.pin(layout, f"it feeds `{path}` ({cls}) normalizing over axis {axis}, not the channel axis alone")
        if layer.weights:
            self.role(path, "member", layout)
            for v in layer.weights:
                if len(v.shape) and int(v.shape[_member_axis(layer, v.name)]) not in (1, layout.size):
                    self.cg.pin(layout, f"`{path}` ({cls}) holds `{v.name}` of shape {tuple(v.shape)}, not per channel")
        return [layout]

    def flatten(self, path: str, cls: str, names: tuple[str, ...], layout: Layout, in_shape: Any, shape: Any) -> Layout | None:
        width = _last(shape)
        if width is None or in_shape is None or _last(in_shape) != layout.size or width % layout.size:
            self.cg.pin(layout, f"it feeds `{path}` ({cls}), which moves the channel axis")
            return self.fixed(shape, f"its channels come from `{path}` ({cls})")
        out = Layout(layout.segments, layout.repeat * width // layout.size)
        if "Reshape" in names:
            self.role(path, "reshape", out)
        return out

    def nested(self, nid: str, path: str, model: Any, ins: list[Layout | None], shapes: list[Any]) -> list[Layout | None]:
        first = self.view.layers[path].calls[0] == nid
        if not first:
            for x in ins:
                self.cg.pin(x, f"it feeds `{path}`, a nested model called more than once")
            return [self.fixed(s, f"its channels come from `{path}`, a nested model called more than once") for s in shapes]
        self.walk(path, ins)
        outs: list[Layout | None] = []
        for t in _flat(model, "outputs"):
            found = keras_private.tensor_history(t)
            node = f"{path}/{found[0].name}#{0}" if found else None
            outs.append(self.out.get((node, found[2])) if found and node else None)
            if found and len(self.view.layers.get(f"{path}/{found[0].name}", _NoCalls).calls) != 1:
                outs[-1] = None
        return [o if o is not None else self.fixed(s, f"its channels come from `{path}`") for o, s in zip(outs, shapes)]


def _flat(model: Any, which: str) -> list[Any]:
    try:
        return list(keras.tree.flatten(getattr(model, which)))
    except (AttributeError, ValueError):  # an unbuilt Sequential has neither
        return []


class _NoCalls:
    calls: list[str] = []


def _member_axis(layer: Any, name: str) -> int:
    """The channel axis of a per-channel layer's weight: a depthwise kernel's is -2 (its last is the multiplier)."""
    return -2 if name in ("kernel", "depthwise_kernel") else -1


member_axis = _member_axis


def channel_groups(view: GraphView) -> ChannelGroups:
    """The channel groups of the model in `view` (its graph, nested models included)."""
    walker = _Walker(view)
    walker.walk("", None)
    return walker.cg
