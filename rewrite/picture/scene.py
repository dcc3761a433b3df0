"""What a picture of a rewrite shows: boxes for layer calls, marked by what changes.

`build_scene` reads a report (an applied rewrite's, or a plan's) and the model's
graph: layers whose fields change, layers removed, replaced or wrapped get their
kind and a short note ("activation: relu → gelu"); added layers become boxes of
their own, where they will sit. A graph of more than `max_nodes` calls is folded
to the region around the changes: the marked layers, `context` hops of
neighbours, and the model's inputs and outputs stay; each connected run of the
rest becomes one "… k layers …" box. Drawing is `rewrite.picture`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx

from rewrite.errors import PictureError
from rewrite.lang.expressions import show
from rewrite.report.data import ReportData

Kind = Literal["changed", "added", "removed", "replaced", "wrapped", "unchanged", "elided"]

MARKED: tuple[Kind, ...] = ("changed", "added", "removed", "replaced", "wrapped")
# A later kind wins when one layer is marked twice (changed, then deleted: deleted).
PRECEDENCE = {"changed": 0, "wrapped": 1, "replaced": 2, "removed": 3}
MAX_LINE = 44
MAX_NOTES = 3


@dataclass
class Box:
    """One box of the picture: a layer call, an added layer, or a folded run."""

    id: str
    lines: list[str]
    kind: Kind = "unchanged"
    parent: str = ""
    """The nested model it belongs to ("" at the top level)."""
    notes: list[str] = field(default_factory=list)

    def label(self) -> list[str]:
        notes = self.notes[:MAX_NOTES]
        if len(self.notes) > MAX_NOTES:
            notes.append(f"+{len(self.notes) - MAX_NOTES} more")
        return [_clip(x) for x in [*self.lines, *notes]]


@dataclass
class Scene:
    """What a picture shows: a DAG of boxes (attribute `box`), a title, counts."""

    name: str
    title: str
    graph: nx.DiGraph
    counts: dict[str, int]
    """Layers per marked kind."""
    folded: int = 0
    """Layer calls folded into "…" boxes."""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


# ------------------------------------------------------------------ marks


@dataclass
class _Added:
    name: str
    anchor: str
    where: str
    cls: str = ""
    notes: list[str] = field(default_factory=list)


def _marks(report: ReportData) -> tuple[dict[str, tuple[str, list[str]]], list[_Added]]:
    """Per layer path: (kind, notes); and the layers added, in report order."""
    marks: dict[str, tuple[str, list[str]]] = {}
    added: list[_Added] = []

    def mark(path: str, kind: str, note: str) -> None:
        old_kind, notes = marks.get(path, (kind, []))
        if PRECEDENCE.get(kind, 0) >= PRECEDENCE.get(old_kind, 0):
            old_kind = kind
        marks[path] = (old_kind, [*notes, note])

    for s in report.statements:
        for c in s.changes:
            mark(c.layer, "changed", f"{c.field}: {show(c.old)} → {show(c.new)}")
        for sc in s.structure:
            paths = sc.layers or [sc.layer]  # reports saved before `layers` existed name one layer
            if sc.kind == "added":
                classes = sc.classes or [""] * len(sc.new)
                added += [_Added(name, paths[0], sc.position or "after", cls) for name, cls in zip(sc.new, classes)]
            elif sc.kind == "removed":
                mark(paths[0], "removed", "deleted")
            elif sc.kind == "replaced":
                with_what = ", ".join(sc.new) + (f" ({sc.detail})" if sc.detail and sc.detail not in sc.new else "")
                for path in paths:
                    mark(path, "replaced", f"→ {with_what}")
            else:
                mark(paths[0], "wrapped", f"in {sc.detail}")
    return marks, added


# ------------------------------------------------------------------ scene


def _box_for(nid: str, data: dict[str, Any]) -> Box:
    name = data["name"] + (f" (call {data['call_index'] + 1})" if data.get("call_index") else "")
    return Box(nid, [name, data["cls"]], parent=data.get("parent", ""))


def _summary(counts: dict[str, int], folded: int) -> str:
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    text = ", ".join(parts) if parts else "no changes"
    return text + (f"; {folded} unchanged layer calls folded" if folded else "")


def build_scene(g: nx.MultiDiGraph, report: ReportData | None, context: int = 2, max_nodes: int = 60) -> Scene:
    """The boxes to draw for graph `g` with the marks of `report`, folded when large."""
    dg = nx.DiGraph()
    by_path: dict[str, list[str]] = {}
    for nid, data in g.nodes(data=True):
        dg.add_node(nid, box=_box_for(nid, data))
        by_path.setdefault(data["path"], []).append(nid)
    dg.add_edges_from((a, b) for a, b in g.edges())
    counts: dict[str, int] = dict.fromkeys(MARKED, 0)
    name = str(g.graph.get("name") or "model")
    if report is None:
        return Scene(name, name, dg, counts)
    marks, added = _marks(report)
    added_ids: dict[str, list[str]] = {}
    for a in added:
        _insert(dg, a, by_path, added_ids)
        counts["added"] += 1
    missing = []
    for path, (kind, notes) in marks.items():
        nids, prefix = _locate(path, by_path, added_ids)
        if not nids:
            missing.append(path)
            continue
        for nid in nids:
            box = dg.nodes[nid]["box"]
            if box.kind != "added":
                box.kind = kind
            box.notes += [prefix + n for n in notes]
        if not (kind == "changed" and dg.nodes[nids[0]]["box"].kind == "added"):
            counts[kind] += 1
    if missing:
        raise PictureError(
            f"the report names layers that the model does not have: {', '.join(sorted(missing)[:5])}. "
            "Draw the model the rules were planned or applied on (the input model, not the rewritten one)"
        )
    dg, folded = fold(dg, context, max_nodes)
    return Scene(name, f"{name}: {_summary(counts, folded)}", dg, counts, folded)


def _locate(path: str, by_path: dict[str, list[str]], added_ids: dict[str, list[str]]) -> tuple[list[str], str]:
    """The boxes of a layer path; a layer held by a wrapper is drawn as its wrapper."""
    if path in by_path:
        return by_path[path], ""
    name = path.rsplit("/", 1)[-1]
    if name in added_ids:
        return added_ids[name], ""
    parts = path.split("/")
    for cut in range(len(parts) - 1, 0, -1):
        outer = "/".join(parts[:cut])
        if outer in by_path:
            return by_path[outer], "/".join(parts[cut:]) + "."
    return [], ""


def _insert(dg: nx.DiGraph, a: _Added, by_path: dict[str, list[str]], added_ids: dict[str, list[str]]) -> None:
    """Draw an added layer right after (or before) each call of its anchor."""
    anchors = by_path.get(a.anchor) or added_ids.get(a.anchor.rsplit("/", 1)[-1]) or []
    for nid in anchors:
        new = f"+{a.name}@{nid}"
        parent = dg.nodes[nid]["box"].parent
        dg.add_node(new, box=Box(new, [a.name, a.cls, f"{a.where} {a.anchor}"] if a.cls else [a.name, f"{a.where} {a.anchor}"], "added", parent))
        added_ids.setdefault(a.name, []).append(new)
        if a.where == "after":
            for succ in list(dg.successors(nid)):
                dg.remove_edge(nid, succ)
                dg.add_edge(new, succ)
            dg.add_edge(nid, new)
        else:
            for pred in list(dg.predecessors(nid)):
                dg.remove_edge(pred, nid)
                dg.add_edge(pred, new)
            dg.add_edge(new, nid)


# ------------------------------------------------------------------ folding


def fold(dg: nx.DiGraph, context: int, max_nodes: int) -> tuple[nx.DiGraph, int]:
    """Keep the marked boxes, `context` hops around them and the graph's ends; fold the rest.

    Fewer hops are tried while the result has more than `max_nodes` boxes. A graph
    without marks, or small enough already, is returned as it is.
    """
    marked = {n for n, d in dg.nodes(data=True) if d["box"].kind != "unchanged"}
    if len(dg) <= max_nodes or not marked:
        return dg, 0
    ends = {n for n in dg if dg.in_degree(n) == 0 or dg.out_degree(n) == 0}
    undirected = dg.to_undirected(as_view=True)
    best: tuple[nx.DiGraph, int] = (dg, 0)
    for hops in range(max(context, 0), -1, -1):
        keep = set(marked) | ends
        for m in marked:
            keep.update(nx.single_source_shortest_path_length(undirected, m, cutoff=hops))
        best = _contract(dg, keep)
        if len(best[0]) <= max_nodes:
            break
    return best


def _contract(dg: nx.DiGraph, keep: set[str]) -> tuple[nx.DiGraph, int]:
    rest = dg.subgraph(n for n in dg if n not in keep)
    groups = [set(c) for c in nx.weakly_connected_components(rest)]
    while True:
        folded = _folded(dg, keep, groups)
        if nx.is_directed_acyclic_graph(folded):
            return folded, sum(len(g) for g in groups if len(g) > 1)
        # A run that feeds a kept layer and is fed by it again (two branches of one
        # block) would make a cycle: split such runs into their straight chains.
        cyclic = {n for scc in nx.strongly_connected_components(folded) if len(scc) > 1 for n in scc}
        split: list[set[str]] = []
        for i, group in enumerate(groups):
            split += _chains(dg, group) if f"…{i}" in cyclic else [group]
        groups = split


def _chains(dg: nx.DiGraph, group: set[str]) -> list[set[str]]:
    """A group split into straight runs (one way in, one way out): contracting those makes no cycle."""
    chain = nx.Graph()
    chain.add_nodes_from(group)
    for a, b in dg.subgraph(group).edges():
        if dg.out_degree(a) == 1 and dg.in_degree(b) == 1:
            chain.add_edge(a, b)
    return [set(c) for c in nx.connected_components(chain)]


def _folded(dg: nx.DiGraph, keep: set[str], groups: list[set[str]]) -> nx.DiGraph:
    out = nx.DiGraph()
    home: dict[str, str] = {n: n for n in keep}
    for n in keep:
        out.add_node(n, box=dg.nodes[n]["box"])
    for i, group in enumerate(groups):
        if len(group) == 1:
            (n,) = group
            out.add_node(n, box=dg.nodes[n]["box"])
            home[n] = n
            continue
        parents = {dg.nodes[n]["box"].parent for n in group}
        parent = parents.pop() if len(parents) == 1 else ""
        inside = f" in {parent}" if parent else ""
        gid = f"…{i}"
        lines = [f"… {len(group)} layers{inside} …"]
        classes = sorted({dg.nodes[n]["box"].lines[-1] for n in group})
        if len(classes) <= 3:
            lines.append(", ".join(classes))
        out.add_node(gid, box=Box(gid, lines, "elided", parent))
        home.update(dict.fromkeys(group, gid))
    for a, b in dg.edges():
        if home[a] != home[b]:
            out.add_edge(home[a], home[b])
    return out
