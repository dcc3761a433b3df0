"""The graph view: calls as nodes, tensors as edges, nested models with paths."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

import rewrite
from rewrite.graphview.exports import to_dot, to_json, to_text
from rewrite.graphview.view import build_view


@pytest.fixture
def nested(keras):
    """Functional -> Functional -> Sequential, a shared layer, a raw ops node, two inputs."""
    seq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="s1")], name="seq")
    i = keras.Input((6,), name="mid_in")
    mid = keras.Model(i, keras.layers.Dense(6, name="m1")(seq(i)), name="mid")
    a = keras.Input((6,), name="a")
    b = keras.Input((6,), name="b")
    shared = keras.layers.Dense(6, name="shared")
    h = keras.ops.add(shared(a), shared(b))
    out = keras.layers.Dense(2, name="head")(mid(h))
    return keras.Model([a, b], [out, h], name="outer")


def test_nodes_are_calls_and_edges_are_tensors(nested):
    g = rewrite.graph(nested)
    assert isinstance(g, nx.MultiDiGraph)
    assert g.nodes["shared#0"]["call_index"] == 0 and g.nodes["shared#1"]["call_index"] == 1
    assert g.nodes["shared#0"]["layer"] is g.nodes["shared#1"]["layer"]
    add = next(n for n, d in g.nodes(data=True) if d["kind"] == "op")
    assert sorted(p for p, _ in g.in_edges(add)) == ["shared#0", "shared#1"]
    edge = next(iter(g.get_edge_data("a#0", "shared#0").values()))
    assert edge["shape"] == (None, 6) and edge["dtype"] == "float32" and edge["arg"] == 0
    assert g.nodes["mid/seq/s1#0"]["parent"] == "mid/seq"
    assert g.nodes["mid/seq/s1#0"]["config"]["activation"] == "relu"
    assert nx.is_directed_acyclic_graph(g)


def test_layer_index_paths_and_classes(nested):
    view = build_view(nested)
    assert list(view.layers) == ["shared", "mid", "mid/seq", "mid/seq/s1", "mid/m1", "head"]
    assert [i.index for i in view.layers.values()] == list(range(6))
    assert view.layers["mid/seq"].class_names[:2] == ("Sequential", "Model")
    assert {i.path for i in view.by_class["Dense"]} == {"shared", "mid/seq/s1", "mid/m1", "head"}
    assert view.layers["shared"].calls == ["shared#0", "shared#1"]
    assert "head" in view.downstream("shared")


def test_formats(nested):
    g = rewrite.graph(nested)
    text = to_text(g)
    assert "mid/seq/s1" in text and "Dense" in text
    assert to_dot(g).startswith('digraph "outer"')
    data = json.loads(json.dumps(to_json(g), default=str))
    assert {n["id"] for n in data["nodes"]} == set(g.nodes)


def test_unbuilt_sequential_is_a_chain(keras):
    seq = keras.Sequential([keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")])
    with pytest.raises(TypeError, match="rewrites Keras models. Received: Dense"):
        build_view(keras.layers.Dense(2))
    g = rewrite.graph(seq)
    assert list(g.edges()) == [("a#0", "b#0")]


def test_a_subclassed_model_is_seen_as_its_layers_by_path(keras):
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(2, name="inner")

        def call(self, x):
            return self.inner(x)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.block = Block(name="block")
            self.head = keras.layers.Dense(1, name="head")

        def call(self, x):
            return self.head(self.block(x))

    model = Sub()
    model(np.ones((1, 3), "float32"))
    view = build_view(model)
    assert not view.has_graph and list(view.layers) == ["block", "block/inner", "head"]
    assert view.layers["block/inner"].owner == "block" and view.layers["block/inner"].sublayer
    assert view.layers["head"].owner is None and not view.layers["head"].sublayer
    g = rewrite.graph(model)
    assert sorted(g.nodes) == ["block#0", "block/inner#0", "head#0"] and not list(g.edges())


def test_composite_layers_show_their_sublayers_below_them(keras):
    x = keras.Input((4, 8))
    y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    model = keras.Model(x, y)
    assert "mha/query" not in build_view(model).layers  # what clone mode sees: the layer calls
    view = build_view(model, sublayers=True)
    assert {"mha/query", "mha/key", "mha/value", "mha/attention_output"} <= set(view.layers)
    assert view.layers["mha/query"].owner == "mha" and "EinsumDense" in view.layers["mha/query"].class_names
    g = rewrite.graph(model)
    assert g.nodes["mha/query#0"]["kind"] == "sublayer" and g.in_degree("mha/query#0") == 0


def test_dot_quotes_every_name(keras):
    """A quote, a backslash or a line break in a layer name cannot break the DOT file."""
    import re

    from rewrite.report import dot

    x = keras.Input((3,), name='in"put')
    y = keras.layers.Dense(2, name='fc "one" \\ two')(x)
    g = rewrite.graph(keras.Model(x, y, name='my "model"'))
    text = to_dot(g)
    string = r'"(?:[^"\\\n]|\\.)*"'
    assert text.splitlines()[0] == 'digraph "my \\"model\\"" {'
    nodes = [line for line in text.splitlines() if "[label=" in line and "->" not in line]
    edges = [line for line in text.splitlines() if "->" in line]
    assert len(nodes) == 2 and len(edges) == 1
    for line in nodes:
        assert re.fullmatch(rf"  {string} \[label={string}\];", line), line
    for line in edges:
        assert re.fullmatch(rf"  {string} -> {string} \[label={string}\];", line), line
    assert '\\"one\\" \\\\ two' in text
    assert dot.quote("a\nb") == '"a\\nb"' and dot.quote('"') == '"\\""'
