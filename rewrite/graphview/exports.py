"""The graph view for people and tools: `rewrite.graph`, rows, text, DOT and JSON."""

from __future__ import annotations

from typing import Any

import networkx as nx

from rewrite.graphview.view import LayerGraph, build_view, graph_rows
from rewrite.report import dot


def graph(model: Any) -> LayerGraph:
    """A networkx.MultiDiGraph of the model's layer calls (see `rewrite.graph`).

    The sublayers of composite layers are nodes of kind `sublayer` below their
    layer's path, with no edges (they are reached by attribute, not called by the
    graph); a subclassed model's layers are such nodes too. In Jupyter it shows as
    a table of calls, shapes and inputs.
    """
    g = build_view(model, with_configs=True, sublayers=True).graph
    assert isinstance(g, LayerGraph)
    return g


def to_text(g: nx.MultiDiGraph) -> str:
    lines = []
    for row in graph_rows(g):
        src = f" <- {', '.join(row.inputs)}" if row.inputs else ""
        lines.append(f"{row.path:<40} {row.cls:<24} {row.shapes}{src}")
    return "\n".join(lines)


def to_dot(g: nx.MultiDiGraph) -> str:
    """The graph as Graphviz DOT: one box per call (path and class), edges labelled with shapes."""
    lines = [f"digraph {dot.quote(g.graph.get('name', 'model'))} {{", "  node [shape=box];"]
    for nid, data in g.nodes(data=True):
        lines.append(dot.node(nid, {"label": f"{data['path']}\n{data['cls']}"}))
    for a, b, data in g.edges(data=True):
        label = "x".join("?" if d is None else str(d) for d in (data.get("shape") or ()))
        lines.append(dot.edge(a, b, {"label": label}))
    lines.append("}")
    return "\n".join(lines)


def to_json(g: nx.MultiDiGraph) -> dict[str, Any]:
    nodes = [
        {k: v for k, v in data.items() if k not in ("layer", "config")} | {"id": nid}
        for nid, data in g.nodes(data=True)
    ]
    edges = [{"source": a, "target": b} | data for a, b, data in g.edges(data=True)]
    return {"name": g.graph.get("name"), "nodes": nodes, "edges": edges}
