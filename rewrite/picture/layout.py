"""A layered top-to-bottom layout of a DAG, in pure Python (for pictures without Graphviz).

The classic recipe in four steps: each node's rank is its depth (the longest path
from an input), so a chain runs straight down; an edge that skips ranks gets a
waypoint in every rank it crosses, so it is routed around boxes, not through
them; the order within each rank is improved by barycentre sweeps, which keeps
crossings few; and x positions are pulled towards the neighbours' positions while
boxes keep their distance (an isotonic regression per rank). Weakly connected
parts (nested models' insides) are laid out side by side.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

SWEEPS = 9  # odd: the last sweep runs down, so a chain hangs straight under its head


@dataclass
class Layout:
    """Box centres, edge routes (lists of points) and the extent, all in the caller's units.

    y grows downwards: rank 0 is at the top.
    """

    centres: dict[Hashable, tuple[float, float]]
    routes: dict[tuple[Hashable, Hashable], list[tuple[float, float]]]
    ranks: dict[Hashable, int]
    width: float
    height: float


def layout(
    g: nx.DiGraph,
    sizes: Mapping[Hashable, tuple[float, float]],
    hgap: float = 14.0,
    vgap: float = 24.0,
    part_gap: float = 40.0,
) -> Layout:
    """Lay out DAG `g` whose node `n` is a box of `sizes[n]` = (width, height)."""
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("a layered layout needs a graph without cycles")
    order = {n: i for i, n in enumerate(nx.topological_sort(g))}
    parts = sorted((sorted(c, key=order.__getitem__) for c in nx.weakly_connected_components(g)), key=lambda c: order[c[0]])
    out = Layout({}, {}, {}, 0.0, 0.0)
    x0 = 0.0
    for nodes in parts:
        part = _layout_part(g.subgraph(nodes), sizes, order, hgap, vgap)
        for n, (x, y) in part.centres.items():
            out.centres[n] = (x + x0, y)
        for e, pts in part.routes.items():
            out.routes[e] = [(x + x0, y) for x, y in pts]
        out.ranks.update(part.ranks)
        out.height = max(out.height, part.height)
        x0 += part.width + part_gap
    out.width = max(x0 - part_gap, 0.0)
    return out


def _layout_part(g: nx.DiGraph, sizes: Mapping[Hashable, tuple[float, float]], order: dict, hgap: float, vgap: float) -> Layout:
    rank: dict[Hashable, int] = {}
    for n in sorted(g, key=order.__getitem__):
        rank[n] = max((rank[p] + 1 for p in g.predecessors(n)), default=0)
    # Waypoints for edges that skip ranks.
    work = nx.DiGraph()
    work.add_nodes_from(g)
    chains: dict[tuple[Hashable, Hashable], list[Hashable]] = {}
    width = dict((n, sizes[n][0]) for n in g)
    for a, b in g.edges():
        chain: list[Hashable] = [a]
        for r in range(rank[a] + 1, rank[b]):
            w = ("waypoint", a, b, r)
            rank[w] = r
            width[w] = 2.0
            chain.append(w)
        chain.append(b)
        nx.add_path(work, chain)
        chains[(a, b)] = chain
    levels: list[list[Hashable]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for n in _dfs_order(work, order):
        levels[rank[n]].append(n)
    _reduce_crossings(work, levels)
    x = _place(work, levels, width, hgap)
    heights = [max((sizes[n][1] for n in level if n in g), default=0.0) for level in levels]
    tops = [0.0]
    for h in heights:
        tops.append(tops[-1] + h + vgap)
    y = {n: tops[rank[n]] + heights[rank[n]] / 2 for n in work}
    centres = {n: (x[n], y[n]) for n in g}
    routes = {}
    for (a, b), chain in chains.items():
        pts = [(x[a], y[a] + sizes[a][1] / 2)]
        pts += [(x[w], y[w]) for w in chain[1:-1]]
        pts.append((x[b], y[b] - sizes[b][1] / 2))
        routes[(a, b)] = pts
    left = min((x[n] - width[n] / 2 for n in work), default=0.0)
    right = max((x[n] + width[n] / 2 for n in work), default=0.0)
    centres = {n: (cx - left, cy) for n, (cx, cy) in centres.items()}
    routes = {e: [(px - left, py) for px, py in pts] for e, pts in routes.items()}
    return Layout(centres, routes, {n: rank[n] for n in g}, right - left, tops[-1] - vgap if levels else 0.0)


def _dfs_order(g: nx.DiGraph, order: dict) -> list[Hashable]:
    """Nodes as a depth-first walk from the inputs meets them: branches stay together."""
    seen: set[Hashable] = set()
    out: list[Hashable] = []
    roots = sorted((n for n in g if g.in_degree(n) == 0), key=lambda n: order.get(n, 0))
    for root in roots:
        stack = [root]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            out.append(n)
            stack.extend(reversed(list(g.successors(n))))
    return out


def _reduce_crossings(g: nx.DiGraph, levels: list[list[Hashable]]) -> None:
    """Barycentre sweeps: sort each rank by the mean position of its neighbours in the last one."""
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, len(levels)) if down else range(len(levels) - 2, -1, -1)
        for i in indices:
            ref = {n: k for k, n in enumerate(levels[i - 1 if down else i + 1])}
            current = {n: k for k, n in enumerate(levels[i])}

            def key(n: Hashable, ref: dict = ref, current: dict = current, down: bool = down) -> float:
                near = [ref[m] for m in (g.predecessors(n) if down else g.successors(n)) if m in ref]
                return sum(near) / len(near) if near else float(current[n])

            levels[i].sort(key=key)


def _place(g: nx.DiGraph, levels: list[list[Hashable]], width: dict[Hashable, float], hgap: float) -> dict[Hashable, float]:
    """x positions: each box near its neighbours, boxes of a rank at least `hgap` apart."""
    x: dict[Hashable, float] = {}
    for level in levels:
        x.update(zip(level, _pack([0.0] * len(level), _gaps(level, width, hgap))))
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        for level in levels if down else reversed(levels):
            wanted = []
            for n in level:
                near = [x[m] for m in (g.predecessors(n) if down else g.successors(n))]
                wanted.append(sum(near) / len(near) if near else x[n])
            x.update(zip(level, _pack(wanted, _gaps(level, width, hgap))))
    return x


def _gaps(level: Sequence[Hashable], width: dict[Hashable, float], hgap: float) -> list[float]:
    return [(width[a] + width[b]) / 2 + hgap for a, b in zip(level, level[1:])]


def _pack(wanted: Sequence[float], gaps: Sequence[float]) -> list[float]:
    """The positions closest (least squares) to `wanted` with x[i+1] - x[i] >= gaps[i].

    Shifting out the gaps turns it into an isotonic regression, solved by pooling
    adjacent violators.
    """
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # [sum, count]
    for target in (w - o for w, o in zip(wanted, offsets)):
        blocks.append([target, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    values: list[float] = []
    for total, count in blocks:
        values += [total / count] * int(count)
    return [v + o for v, o in zip(values, offsets)]
