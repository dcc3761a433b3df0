"""The model's functional graph as a networkx.MultiDiGraph of layer calls, and the layers by path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import networkx as nx

from rewrite import _keras_private as keras_private
from rewrite.errors import UnsupportedModelError
from rewrite.report.data import GraphRow
from rewrite.report.html import graph_html


class LayerGraph(nx.MultiDiGraph):
    """A networkx.MultiDiGraph of layer calls that shows itself as a table in Jupyter.

    It is a MultiDiGraph in every other way: networkx functions, `.nodes`, `.edges`
    and copies work as before.
    """

    def _repr_html_(self) -> str:
        return graph_html(str(self.graph.get("name") or "model"), graph_rows(self), self.number_of_edges())


def graph_rows(g: nx.MultiDiGraph) -> list[GraphRow]:
    """The layer calls in topological order, with output shapes and the layers feeding them."""
    rows = []
    for nid in nx.topological_sort(g):
        data = g.nodes[nid]
        preds = [g.nodes[p]["path"] for p, _ in g.in_edges(nid)]
        shapes = ", ".join(str(s) for s in data.get("output_shapes") or [])
        rows.append(GraphRow(data["path"], data["cls"], shapes, preds))
    return rows


@dataclass
class LayerInfo:
    """One layer (not one call): what matching and planning read."""

    layer: Any
    path: str
    parent: str
    index: int
    class_names: tuple[str, ...]
    calls: list[str] = field(default_factory=list)
    owner: str | None = None
    """For a layer held by a wrapper (TimeDistributed, Bidirectional): the wrapper's path."""
    owner_key: str | None = None
    sublayer: bool = False
    """A layer tracked inside a composite layer (`encoder/feedforward_dense`), reached by attribute."""
    virtual: bool = False
    """A layer the plan adds (not in the model yet); `layer` is an unbuilt instance."""
    key: str = ""
    """How the plan refers to it: the path, or for an added layer a unique key (a
    replacement may reuse the name, and so the path, of the layer it replaces)."""
    """Where its config sits in the wrapper's config (`layer`, `backward_layer`)."""
    _config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.key:
            self.key = self.path

    @property
    def config(self) -> dict[str, Any]:
        """The layer's get_config(), computed on first use (most layers are never asked)."""
        if self._config is None:
            try:
                self._config = self.layer.get_config()
            except Exception:  # a layer without a usable get_config still takes part
                self._config = {}
        return self._config

    @property
    def class_name(self) -> str:
        return self.class_names[0]

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def is_model(self) -> bool:
        return isinstance(self.layer, keras.Model)

    def params(self) -> int:
        try:
            return int(self.layer.count_params()) if self.layer.built else 0
        except ValueError:
            return 0


@dataclass
class GraphView:
    """The graph plus an index of layers by path, in topological order."""

    model: Any
    graph: nx.MultiDiGraph
    layers: dict[str, LayerInfo]
    by_class: dict[str, list[LayerInfo]]
    has_graph: bool = True
    """False for a subclassed model: its layers are known by attribute, its calls are not."""

    def info_for(self, layer: Any) -> LayerInfo | None:
        for info in self.layers.values():
            if info.layer is layer:
                return info
        return None

    def downstream(self, path: str) -> set[str]:
        """Paths of layers fed, directly or not, by any call of the layer at `path`."""
        out: set[str] = set()
        frontier = list(self.layers[path].calls)
        seen: set[str] = set()
        while frontier:
            node = frontier.pop()
            if node in seen:
                continue
            seen.add(node)
            reached = {node} | nx.descendants(self.graph, node)
            for d in reached:
                data = self.graph.nodes[d]
                out.add(data["path"])
                # leaving a nested model: continue after each call of that model
                if data.get("is_output") and data["parent"] in self.layers:
                    frontier.extend(self.layers[data["parent"]].calls)
        out.discard(path)
        return out


def class_names(obj: Any) -> tuple[str, ...]:
    """The names of an object's class and its bases, most specific first."""
    return tuple(k.__name__ for k in type(obj).__mro__ if k.__name__ not in ("object",))


def _shape(tensor: Any) -> tuple | None:
    shape = getattr(tensor, "shape", None)
    return tuple(shape) if shape is not None else None


class _ViewBuilder:
    def __init__(self, model: Any, with_configs: bool):
        self.model = model
        self.with_configs = with_configs
        self.graph: nx.MultiDiGraph = LayerGraph(name=model.name)
        self.layers: dict[str, LayerInfo] = {}

    def node_id(self, path: str, call: int) -> str:
        return f"{path}#{call}"

    def add_layer(self, layer: Any, path: str, parent: str) -> LayerInfo:
        if path not in self.layers:
            info = LayerInfo(layer, path, parent, len(self.layers), class_names(layer))
            self.layers[path] = info
            if isinstance(layer, (keras.layers.Wrapper, keras.layers.Bidirectional)):
                self.add_wrapped(layer, path, info.config)
        return self.layers[path]

    def add_wrapped(self, wrapper: Any, path: str, config: dict[str, Any]) -> None:
        """Layers a wrapper holds, selectable by their own class and fields."""
        held = [("layer", getattr(wrapper, "forward_layer", None) or wrapper.layer)]
        if isinstance(config.get("backward_layer"), dict):
            held.append(("backward_layer", wrapper.backward_layer))
        for key, inner in held:
            inner_config = config[key].get("config", {}) if isinstance(config.get(key), dict) else {}
            inner_path = f"{path}/{inner.name}"
            self.layers[inner_path] = LayerInfo(
                inner, inner_path, path, len(self.layers), class_names(inner), owner=path, owner_key=key, _config=dict(inner_config)
            )

    def walk(self, model: Any, prefix: str) -> None:
        functional = model if keras_private.is_functional(model) else None
        if isinstance(model, keras.Sequential):
            functional = keras_private.sequential_functional(model)
            if functional is None:
                self.walk_unbuilt_sequential(model, prefix)
                return
        if functional is None:
            return
        call_counts: dict[int, int] = {}
        ids: dict[tuple[int, int], str] = {}
        for op, node_index, node in keras_private.model_calls(functional):
            path = f"{prefix}{op.name}"
            is_input = isinstance(op, keras.layers.InputLayer)
            if not is_input and not isinstance(op, keras.layers.Layer):
                kind = "op"
            elif is_input:
                kind = "input"
            elif isinstance(op, keras.Model):
                kind = "model"
            else:
                kind = "layer"
            call = call_counts.get(id(op), 0)
            call_counts[id(op)] = call + 1
            nid = self.node_id(path, call)
            ids[(id(op), node_index)] = nid
            info = None
            if kind in ("layer", "model"):
                info = self.add_layer(op, path, prefix.rstrip("/"))
                info.calls.append(nid)
            self.graph.add_node(
                nid,
                kind=kind,
                cls=type(op).__name__,
                name=op.name,
                path=path,
                parent=prefix.rstrip("/"),
                call_index=call,
                layer=op,
                **({"config": info.config if info else {}} if self.with_configs else {}),
                output_shapes=[_shape(t) for t in node.outputs],
            )
            for position, (src, src_index, tensor_index, tensor) in enumerate(keras_private.node_input_sources(node)):
                src_id = ids.get((id(src), src_index))
                if src_id is None:
                    continue
                self.graph.add_edge(
                    src_id,
                    nid,
                    shape=_shape(tensor),
                    dtype=str(getattr(tensor, "dtype", "")),
                    arg=position,
                    tensor_index=tensor_index,
                )
            if kind == "model" and call == 0:  # its layers once, however often it is called
                self.walk(op, f"{path}/")
        for t in functional.outputs:
            found = keras_private.tensor_history(t)
            if found is not None and (id(found[0]), found[1]) in ids:
                self.graph.nodes[ids[(id(found[0]), found[1])]]["is_output"] = True

    def walk_tree(self, layer: Any, prefix: str, owner: str | None) -> None:
        """The layers tracked inside `layer`, by name path: a subclassed model's layers, or
        the sublayers of composite layers. No calls: these are found, not wired."""
        for inner in keras_private.sublayers(layer):
            path = f"{prefix}{inner.name}"
            if path in self.layers or isinstance(inner, keras.layers.InputLayer):
                continue
            info = LayerInfo(inner, path, prefix.rstrip("/"), len(self.layers), class_names(inner), owner=owner, sublayer=owner is not None)
            self.layers[path] = info
            self.graph.add_node(
                f"{path}#0", kind="sublayer" if owner else "layer", cls=type(inner).__name__, name=inner.name, path=path,
                parent=prefix.rstrip("/"), call_index=0, layer=inner, output_shapes=[],
            )
            self.walk_tree(inner, f"{path}/", path if owner is not None or not isinstance(inner, keras.Model) else None)

    def add_sublayers(self) -> None:
        """Every composite layer's sublayers, below it by path (wrappers' layers are there already)."""
        for info in list(self.layers.values()):
            if info.owner is None and not info.is_model and not isinstance(info.layer, (keras.layers.Wrapper, keras.layers.Bidirectional)):
                self.walk_tree(info.layer, f"{info.path}/", info.path)

    def walk_unbuilt_sequential(self, model: Any, prefix: str) -> None:
        previous = None
        for layer in model.layers:
            path = f"{prefix}{layer.name}"
            info = self.add_layer(layer, path, prefix.rstrip("/"))
            nid = self.node_id(path, 0)
            info.calls.append(nid)
            kind = "model" if isinstance(layer, keras.Model) else "layer"
            self.graph.add_node(nid, kind=kind, cls=type(layer).__name__, name=layer.name, path=path, parent=prefix.rstrip("/"), call_index=0, layer=layer, output_shapes=[])
            if self.with_configs:
                self.graph.nodes[nid]["config"] = info.config
            if previous is not None:
                self.graph.add_edge(previous, nid, shape=None, dtype="", arg=0, tensor_index=0)
            previous = nid
            if kind == "model":
                self.walk(layer, f"{path}/")
        if previous is not None:
            self.graph.nodes[previous]["is_output"] = True


def build_view(model: Any, with_configs: bool = False, sublayers: bool = False) -> GraphView:
    """The graph view of a Functional or Sequential model (nested ones included).

    `with_configs` puts each layer's config on its graph nodes; otherwise configs
    are computed only for the layers a selector asks about. `sublayers` adds the
    layers tracked inside composite layers, by path below them (what in-place mode
    can reach). A subclassed model has no graph: its view lists its layers by path.
    """
    if not isinstance(model, keras.Model):
        raise UnsupportedModelError(
            f"keras-rewrite rewrites Keras models. Received: {type(model).__name__}; wrap a layer in a "
            "keras.Model (functional: keras.Model(inputs, layer(inputs))) first"
        )
    builder = _ViewBuilder(model, with_configs)
    has_graph = keras_private.is_functional(model) or isinstance(model, keras.Sequential)
    if has_graph:
        builder.walk(model, "")
    else:
        builder.walk_tree(model, "", None)
    if sublayers:
        builder.add_sublayers()
    by_class: dict[str, list[LayerInfo]] = {}
    for info in builder.layers.values():
        for name in info.class_names:
            by_class.setdefault(name, []).append(info)
    return GraphView(model, builder.graph, builder.layers, by_class, has_graph)


def relative_path(var: Any, layer: Any) -> str:
    """The variable's path inside its layer, e.g. `query/kernel` for an attention layer."""
    parts = var.path.split("/")
    name = layer.name
    if name in parts:
        index = len(parts) - 1 - parts[::-1].index(name)
        rel = "/".join(parts[index + 1 :])
        if rel:
            return rel
    return var.name
