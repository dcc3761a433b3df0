"""Pictures of a rewrite: what is marked, how large graphs fold, and both ways of drawing."""

from __future__ import annotations

import re
import shutil
import struct
import sys
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

import rewrite
from rewrite.cli.main import main
from rewrite.graphview.view import build_view
from rewrite.picture.graphviz import scene_to_dot
from rewrite.picture.layout import _pack, layout
from rewrite.picture.scene import Box, build_scene, fold

RULES = """Dense[name = "fc1"].activation := gelu
delete Dropout
insert LayerNormalization() after Dense[name = "fc2"]
replace GlobalAveragePooling1D with GlobalMaxPooling1D()
wrap LSTM in Bidirectional
"""


@pytest.fixture
def seq_model(keras):
    x = keras.Input((10, 8), name="x")
    h = keras.layers.LSTM(6, return_sequences=True, name="lstm")(x)
    h = keras.layers.Dense(8, activation="relu", name="fc1")(h)
    h = keras.layers.Dropout(0.2, name="drop")(h)
    h = keras.layers.Dense(8, name="fc2")(h)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax", name="out")(h), name="seq_model")


def chain_model(keras, n):
    x = keras.Input((4,), name="x")
    h = x
    for i in range(n):
        h = keras.layers.Dense(4, activation="relu", name=f"d{i:03d}")(h)
    return keras.Model(x, h, name="chain")


def kinds(scene):
    return {n: d["box"].kind for n, d in scene.graph.nodes(data=True)}


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_scene_marks_each_kind_of_change(seq_model):
    plan = rewrite.plan(seq_model, RULES)
    scene = build_scene(build_view(seq_model).graph, plan)
    k = kinds(scene)
    assert k["fc1#0"] == "changed" and k["drop#0"] == "removed" and k["pool#0"] == "replaced"
    assert k["lstm#0"] == "wrapped" and k["fc2#0"] == "unchanged" and k["out#0"] == "unchanged"
    added = [n for n, kind in k.items() if kind == "added"]
    assert len(added) == 1
    # the added layer sits where it will be: between fc2 and pool
    assert list(scene.graph.predecessors(added[0])) == ["fc2#0"] and list(scene.graph.successors(added[0])) == ["pool#0"]
    assert scene.graph.nodes["fc1#0"]["box"].label() == ["fc1", "Dense", "activation: relu → gelu"]
    assert scene.graph.nodes["pool#0"]["box"].label()[-1] == "→ pool (GlobalMaxPooling1D)"
    assert scene.graph.nodes["lstm#0"]["box"].label()[-1] == "in Bidirectional"
    assert scene.counts == {"changed": 1, "added": 1, "removed": 1, "replaced": 1, "wrapped": 1}
    assert scene.title == "seq_model: 1 changed, 1 added, 1 removed, 1 replaced, 1 wrapped"
    assert scene.folded == 0


def test_insert_before_goes_between_the_layer_and_its_inputs(seq_model):
    scene = build_scene(build_view(seq_model).graph, rewrite.plan(seq_model, 'insert Dropout(0.1) before Dense[name = "out"]'))
    new = next(n for n, kind in kinds(scene).items() if kind == "added")
    assert list(scene.graph.predecessors(new)) == ["pool#0"] and list(scene.graph.successors(new)) == ["out#0"]
    assert scene.graph.nodes[new]["box"].label() == ["out_dropout", "Dropout", "before out"]  # its class, as the model's own boxes


def test_a_large_graph_folds_to_the_changes_and_their_context(keras):
    model = chain_model(keras, 100)
    plan = rewrite.plan(model, 'Dense[name = "d050"].activation := tanh')
    scene = build_scene(build_view(model).graph, plan, context=2, max_nodes=30)
    g = scene.graph
    kept = sorted(n for n, d in g.nodes(data=True) if d["box"].kind != "elided")
    assert kept == ["d048#0", "d049#0", "d050#0", "d051#0", "d052#0", "d099#0", "x#0"]
    elided = {n: d["box"].lines for n, d in g.nodes(data=True) if d["box"].kind == "elided"}
    assert sorted(lines[0] for lines in elided.values()) == ["… 46 layers …", "… 48 layers …"]
    assert all(lines[1] == "Dense" for lines in elided.values())
    assert scene.folded == 94 and scene.title.endswith("1 changed; 94 unchanged layer calls folded")
    assert nx.is_directed_acyclic_graph(g) and nx.is_weakly_connected(g)
    # fewer hops when the context does not fit
    small = build_scene(build_view(model).graph, plan, context=2, max_nodes=6)
    assert sorted(n for n, d in small.graph.nodes(data=True) if d["box"].kind != "elided") == ["d050#0", "d099#0", "x#0"]
    # a small graph, or one without changes, is drawn whole
    assert build_scene(build_view(model).graph, plan, max_nodes=200).folded == 0
    assert build_scene(build_view(model).graph, None, max_nodes=10).folded == 0


def test_folding_never_makes_a_cycle():
    # a -> b -> c -> d and a -> e -> d, with b, c kept: folding {a, e, d} into one box
    # would give a cycle; the run is split into straight pieces instead.
    g = nx.DiGraph([("in", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("a", "e"), ("e", "d"), ("d", "out")])
    for n in g:
        g.nodes[n]["box"] = Box(n, [n, "Dense"], "changed" if n in ("b", "c") else "unchanged")
    folded, count = fold(g, context=0, max_nodes=3)
    assert nx.is_directed_acyclic_graph(folded)
    assert {"b", "c", "in", "out"} <= set(folded)
    assert count == 0  # every piece is one layer, drawn as itself


def test_layout_runs_top_down_without_overlaps(keras):
    g = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("a", "e"), ("e", "d"), ("x", "y"), ("y", "z"), ("z", "w")])
    sizes = {n: (40.0 + 10 * i, 20.0) for i, n in enumerate(sorted(g))}
    placed = layout(g, sizes, hgap=10, vgap=20)
    for a, b in g.edges():
        assert placed.centres[b][1] > placed.centres[a][1]  # every edge points down
        route = placed.routes[(a, b)]
        assert route[0] == (placed.centres[a][0], placed.centres[a][1] + 10) and route[-1][1] == placed.centres[b][1] - 10
    assert len(placed.routes[("a", "d")]) == 4  # two waypoints: d is three ranks below a
    boxes = [(placed.centres[n][0] - sizes[n][0] / 2, placed.centres[n][1], placed.centres[n][0] + sizes[n][0] / 2) for n in g]
    for i, (l1, y1, r1) in enumerate(boxes):
        for l2, y2, r2 in boxes[i + 1 :]:
            assert y1 != y2 or r1 + 10 <= l2 + 1e-9 or r2 + 10 <= l1 + 1e-9
    assert len({round(placed.centres[n][0], 6) for n in "xyzw"}) == 1  # a chain runs straight down
    assert min(placed.centres[n][0] for n in "xyzw") > max(placed.centres[n][0] for n in "abcde")  # parts side by side
    assert all(placed.centres[n][0] - sizes[n][0] / 2 >= 0 and placed.centres[n][0] + sizes[n][0] / 2 <= placed.width + 1e-9 for n in g)


def test_pack_keeps_gaps_and_stays_close():
    assert _pack([0, 0, 0], [10, 10]) == [-10, 0, 10]
    assert _pack([0, 50, 100], [10, 10]) == [0, 50, 100]
    assert _pack([5, 0], [4]) == [0.5, 4.5]


def test_dot_source_colours_the_marks_and_has_a_legend(seq_model):
    scene = build_scene(build_view(seq_model).graph, rewrite.plan(seq_model, RULES))
    dot = scene_to_dot(scene)
    assert dot.startswith('digraph "seq_model" {')
    nodes = dict(re.findall(r'^\s+"([^"]+)" \[label=.*?class="(\w+)"', dot, re.M))
    assert {k: v for k, v in nodes.items() if not k.startswith("legend:")} == {
        "lstm#0": "wrapped", "fc1#0": "changed", "drop#0": "removed", "pool#0": "replaced",
        "+fc2_layer_normalization@fc2#0": "added",
    }
    assert "subgraph cluster_legend" in dot and all(f'"legend:{k}"' in dot for k in ("changed", "added", "removed", "replaced", "wrapped"))
    assert "<B>fc1</B>" in dot and "activation: relu → gelu" in dot
    assert '"fc2#0" -> "+fc2_layer_normalization@fc2#0";' in dot


def test_fallback_draws_png_and_svg(seq_model, tmp_path):
    svg = rewrite.draw(seq_model, RULES, tmp_path / "plan.svg", engine="matplotlib")
    assert svg.engine == "matplotlib" and svg.format == "svg" and (tmp_path / "plan.svg").read_bytes() == svg.data
    texts = svg_texts(svg.data)
    for expected in ("fc1", "activation: relu → gelu", "fc2_layer_normalization", "deleted", "field changed", "folded away"):
        assert expected in texts
    assert texts[0] == "seq_model: 1 changed, 1 added, 1 removed, 1 replaced, 1 wrapped"
    assert svg._repr_svg_() == svg.data.decode() and svg._repr_png_() is None
    png = rewrite.draw(seq_model, rewrite.plan(seq_model, RULES), tmp_path / "plan.png", engine="matplotlib")
    width, height = png_size((tmp_path / "plan.png").read_bytes())
    assert height > width > 300  # a column of boxes, top to bottom
    assert png.boxes == 8 and png.counts["added"] == 1


def test_a_picture_without_a_path_is_an_svg_for_notebooks(seq_model):
    picture = rewrite.draw(seq_model, engine="matplotlib")
    assert picture.path is None and picture.format == "svg" and "lstm" in svg_texts(picture.data)
    assert picture.counts == dict.fromkeys(("changed", "added", "removed", "replaced", "wrapped"), 0)


def test_a_dot_path_gets_graphviz_source_without_graphviz(seq_model, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    picture = rewrite.draw(seq_model, RULES, tmp_path / "plan.dot")
    assert picture.engine == "none" and (tmp_path / "plan.dot").read_text().startswith('digraph "seq_model"')


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_draws_svg_and_png(seq_model, tmp_path):
    svg = rewrite.draw(seq_model, RULES, tmp_path / "plan.svg")
    assert svg.engine == "graphviz"
    classes = re.findall(r'class="node (\w+)"', svg.data.decode())
    assert sorted(c for c in classes) == ["added", "added", "changed", "changed", "elided", "removed", "removed", "replaced", "replaced", "wrapped", "wrapped"]
    assert "activation: relu → gelu" in svg.data.decode()
    png = rewrite.draw(seq_model, RULES, tmp_path / "plan.png", engine="graphviz")
    assert png_size(png.data)[1] > 200


def test_errors_say_what_to_do(seq_model, tmp_path, monkeypatch):
    with pytest.raises(rewrite.PictureError, match=r"plan\.jpg: the suffix `\.jpg` names no picture format; use one of \.svg, \.png"):
        rewrite.draw(seq_model, RULES, tmp_path / "plan.jpg")
    with pytest.raises(rewrite.PictureError, match="folder .* does not exist"):
        rewrite.draw(seq_model, RULES, tmp_path / "no" / "plan.svg", engine="matplotlib")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(rewrite.PictureError, match="needs the Graphviz `dot` program on PATH; install Graphviz .*apt-get install graphviz"):
        rewrite.draw(seq_model, RULES, tmp_path / "plan.svg", engine="graphviz")
    monkeypatch.setitem(sys.modules, "rewrite.picture.mpl", None)
    with pytest.raises(rewrite.PictureError, match=r"needs matplotlib: pip install 'keras-rewrite\[draw\]'"):
        rewrite.draw(seq_model, RULES, tmp_path / "plan.svg")


def test_drawing_the_rewritten_model_with_its_report_is_refused(seq_model):
    result = rewrite.apply(seq_model, "delete Dropout", validate="config")
    with pytest.raises(rewrite.PictureError, match="model does not have: drop. Draw the model the rules were planned or applied on"):
        rewrite.draw(result.model, result.report, engine="matplotlib")
    assert rewrite.draw(seq_model, result.report, engine="matplotlib").counts["removed"] == 1


def test_nested_models_are_drawn_in_their_own_frame(keras):
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, keras.layers.Dense(4, activation="relu", name="inner_fc")(inner_in), name="backbone")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)), name="outer")
    scene = build_scene(build_view(model).graph, rewrite.plan(model, "Dense[name = \"inner_fc\"].activation := tanh"))
    assert kinds(scene)["backbone/inner_fc#0"] == "changed"
    dot = scene_to_dot(scene)
    assert 'subgraph "cluster_backbone"' in dot
    picture = rewrite.draw(model, "Dense[name = \"inner_fc\"].activation := tanh", engine="matplotlib")
    assert "backbone" in svg_texts(picture.data)


def test_cli_plan_picture(tmp_path, capsys, saved):
    model_path = saved
    rules = tmp_path / "r.rw"
    rules.write_text('Dense[name ~ "fc?"].activation := tanh\ndelete Dropout\n')
    out = tmp_path / "plan.png"
    assert main(["plan", str(model_path), str(rules), "--picture", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"drew {out} (10 boxes;" in stdout
    assert png_size(out.read_bytes())[1] > 300
    assert main(["plan", str(model_path), str(rules), "--picture", str(tmp_path / "plan.gif")]) == 2
    assert "the suffix .gif names no picture format; use .svg, .png or .dot" in capsys.readouterr().err
    assert not (tmp_path / "plan.gif").exists()
