"""Structural statements on the plan: delete, insert, replace (layers and chains), wrap.

Layers a statement adds are created unbuilt here, as plan entries that later
statements can match; the model is built once, when the plan is materialized.
"""

from __future__ import annotations

from typing import Any, Literal

from rewrite import transforms
from rewrite.errors import PlanError
from rewrite.graphview.view import GraphView, LayerInfo, class_names
from rewrite.lang import ast
from rewrite.lang.loader import RuleStatement
from rewrite.planner import (
    builtin_transforms,  # noqa: F401  (importing it registers the built-in transforms)
    construct,
)
from rewrite.planner.plan import (
    PRESERVING_ATOL,
    PRESERVING_RTOL,
    LayerEdit,
    OutputExpectation,
    Plan,
    StatementOutcome,
    plan_error,
)
from rewrite.planner.selection import FieldReader, candidates_for, judge
from rewrite.report.data import Skip, StructureChange


def apply_structural(plan: Plan, view: GraphView, cs: RuleStatement, out: StatementOutcome) -> None:
    stmt = cs.statement
    if isinstance(stmt, ast.Delete):
        _delete(plan, view, cs, stmt, out)
    elif isinstance(stmt, ast.Insert):
        _insert(plan, view, cs, stmt, out)
    elif isinstance(stmt, ast.Replace):
        _replace(plan, view, cs, stmt, out)
    elif isinstance(stmt, ast.Wrap):
        _wrap(plan, view, cs, stmt, out)


# ------------------------------------------------------------------ helpers

MAX_ADDED = 10_000
"""The most layers a rule file may add (or four times the model's layers, if more)."""


def check_growth(plan: Plan, view: GraphView, stmt: ast.StatementNode, adding: int = 0) -> None:
    """Refuse a rule file whose statements add more layers than the limit, counting `adding` more to come."""
    limit = max(MAX_ADDED, 4 * len(view.layers))
    total = len(plan.added) + adding
    if total > limit:
        raise PlanError(
            f"{stmt.file}:{stmt.line}: `{stmt.source}` brings the layers the rules add to {total:,}, over the "
            f"limit of {limit:,} for a model of {len(view.layers):,} layers; an `insert` "
            "on `*` matches the layers earlier inserts added, doubling the model each time: narrow the selector"
        )



def _taken(plan: Plan, view: GraphView, parent: str) -> set[str]:
    names = {
        plan.overrides(p).get("name", i.name)
        for p, i in view.layers.items()
        if i.parent == parent and i.owner is None and not plan.gone(p)
    }
    names |= {plan.overrides(p).get("name", i.name) for p, i in plan.added.items() if i.parent == parent}
    return names


def _add(plan: Plan, view: GraphView, anchor: LayerInfo, layer: Any, role: str, cs: RuleStatement, **extra: Any) -> LayerInfo:
    """Register a layer the plan adds, beside/instead of/around `anchor`."""
    path = f"{anchor.parent}/{layer.name}" if anchor.parent else layer.name
    index = len(view.layers) + len(plan.added)
    info = LayerInfo(
        layer, path, anchor.parent, index, class_names(layer), virtual=True, key=f"{path}+{index}", _config=layer.get_config()
    )
    plan.added[info.key] = info
    edit = plan.edits[info.key] = LayerEdit(info, anchor=anchor.key, role=role, **extra)
    edit.note(cs.index, cs.statement.policy)
    return info


def _reject_inner(info: LayerInfo, stmt: ast.AnyStatement, what: str) -> None:
    if info.owner is not None:
        raise plan_error(
            stmt,
            f"`{info.path}` lives inside the wrapper `{info.owner}`; {what} the wrapper instead, "
            "or change the inner layer's fields with `:=`"
        )


def _single_input(info: LayerInfo, view: GraphView) -> tuple[Any, Any] | None:
    """(input shape, output shape) when every call takes one tensor and gives one; else None."""
    shapes = None
    for node in info.calls:
        inputs = list(view.graph.in_edges(node, data=True))
        outputs = view.graph.nodes[node].get("output_shapes") or []
        if len(inputs) != 1 or len(outputs) != 1:
            return None
        shapes = (inputs[0][2].get("shape"), outputs[0])
    return shapes


def _list_holding(plan: Plan, info: LayerInfo) -> list[LayerInfo]:
    """The before/after/replacement list of its anchor that an added layer sits in."""
    edit = plan.edits[info.key]
    anchor = plan.edits[edit.anchor] if edit.anchor else None
    if anchor is None:
        raise PlanError(f"`{info.path}` is not part of the plan")
    for seq in (anchor.before, anchor.after, anchor.replacement):
        if any(i.key == info.key for i in seq):
            return seq
    raise PlanError(f"`{info.path}` wraps `{anchor.info.path}`; it cannot be moved or deleted on its own")


def _around(view: GraphView, seq: list[LayerInfo]) -> tuple[str, str]:
    """The names feeding the first layer and fed by the last, for before/after lines."""
    g = view.graph

    def names(nodes: set[str]) -> str:
        found = sorted({g.nodes[n]["name"] for n in nodes})
        return found[0] if len(found) == 1 else "(" + ", ".join(found) + ")" if found else ""

    first, last = seq[0], seq[-1]
    if first.virtual or not first.calls or last.virtual or not last.calls:
        return "", ""
    preds = names({p for p, _ in g.in_edges(first.calls[0])})
    succs = names({c for _, c in g.out_edges(last.calls[0])})
    return preds, succs


def _lines(preds: str, middle: list[str], succs: str) -> str:
    return " -> ".join(p for p in [preds, *middle, succs] if p) or "-"


def _change(
    view: GraphView,
    kind: Any,
    seq: list[LayerInfo],
    new: list[LayerInfo],
    detail: str,
    position: Literal["after", "before"] | None = None,
    names: list[str] | None = None,
) -> StructureChange:
    """The report's entry; `names` stands in for the new layers' names where they are drawn otherwise."""
    classes = [i.class_name for i in new]
    new_names = names if names is not None else [i.name for i in new]
    preds, succs = _around(view, seq)
    old_names = [i.name for i in seq]
    if kind == "added":
        before = _lines(preds if position == "before" else "", old_names, succs if position == "after" else "")
        after_mid = new_names + old_names if position == "before" else old_names + new_names
        after = _lines(preds if position == "before" else "", after_mid, succs if position == "after" else "")
    else:
        before = _lines(preds, old_names, succs)
        after = _lines(preds, new_names, succs)
    paths = [i.path for i in seq]
    return StructureChange(
        kind=kind, layer=" -> ".join(paths), layers=paths, position=position, new=new_names, classes=classes,
        detail=detail, before=before, after=after,
    )


# ------------------------------------------------------------------ delete


def _delete(plan: Plan, view: GraphView, cs: RuleStatement, stmt: ast.Delete, out: StatementOutcome) -> None:
    matched, out.near = candidates_for(plan, view, stmt.selector)
    for info in matched:
        _reject_inner(info, stmt, "delete")
        if info.virtual:
            seq = _list_holding(plan, info)
            seq[:] = [i for i in seq if i.key != info.key]
            del plan.added[info.key]
            del plan.edits[info.key]
        else:
            shapes = _single_input(info, view)
            if shapes is None:
                raise plan_error(
                    stmt,
                    f"cannot delete `{info.path}` ({info.class_name}): it does not take exactly one "
                    "input and give one output, so there is no single input to flow on to its consumers"
                )
            if shapes[0] is None or tuple(shapes[0]) != tuple(shapes[1] or ()):
                raise plan_error(
                    stmt,
                    f"cannot delete `{info.path}` ({info.class_name}): its input has shape "
                    f"{shapes[0]} but its output has shape {shapes[1]}; only a layer whose output has the shape of "
                    "its input can be deleted (its consumers expect that shape)"
                )
            edit = plan.edit(info)
            if edit.wrapper is not None:
                raise plan_error(stmt, f"`{info.path}` was wrapped by an earlier statement; delete the wrapper's statement instead")
            edit.remove = True
            edit.note(cs.index, stmt.policy)
        out.matched.append(info)
        out.structure.append(_change(view, "removed", [info], [], "its input flows on to its consumers"))


# ------------------------------------------------------------------ insert


def _insert(plan: Plan, view: GraphView, cs: RuleStatement, stmt: ast.Insert, out: StatementOutcome) -> None:
    matched, out.near = candidates_for(plan, view, stmt.selector)
    check_growth(plan, view, stmt, len(matched))  # before building a layer: an insert on `*` doubles the model
    cls = construct.layer_class(stmt.call.name)
    taken: dict[str, set[str]] = {}  # the names in use, per parent, as this statement adds its own
    for info in matched:
        _reject_inner(info, stmt, "insert beside")
        reader = FieldReader(info, plan.overrides(info.key))
        args, kwargs = construct.arguments(stmt.call, stmt, plan.params, reader)
        if "name" in kwargs and len(matched) > 1:
            raise plan_error(
                stmt,
                f"`name=` is given but the statement matches {len(matched)} layers; "
                "drop `name=` to get one derived name per layer"
            )
        base = f"{reader.get('name')}_{construct.snake(cls.__name__)}"
        names = taken[info.parent] if info.parent in taken else taken.setdefault(info.parent, _taken(plan, view, info.parent))
        kwargs.setdefault("name", construct.unique_name(base, names))
        names.add(kwargs["name"])
        layer = construct.instantiate(cls, args, kwargs, stmt, stmt.call.text())
        if stmt.policy == "identity":
            _check_identity(layer, stmt)
        if not info.virtual and stmt.where == "before" and _single_input(info, view) is None:
            raise plan_error(
                stmt,
                f"cannot insert before `{info.path}` ({info.class_name}): it takes more than one "
                "input; insert after the layers that feed it instead"
            )
        added = _add(plan, view, info, layer, stmt.where, cs, identity=stmt.policy == "identity")
        if info.virtual:
            seq = _list_holding(plan, info)
            at = next(i for i, x in enumerate(seq) if x.key == info.key)
            seq.insert(at + 1 if stmt.where == "after" else at, added)
            plan.edits[added.key].anchor = plan.edits[info.key].anchor
        else:
            edit = plan.edit(info)
            if stmt.where == "after":
                edit.after.insert(0, added)  # immediately after the layer
            else:
                edit.before.append(added)  # immediately before the layer
            edit.note(cs.index, stmt.policy)
        out.matched.append(info)
        out.structure.append(_change(view, "added", [info], [added], f"{stmt.where} {info.path}", stmt.where))


IDENTITY_CLASSES = ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "BatchNormalization")


def _check_identity(layer: Any, stmt: ast.Insert) -> None:
    names = class_names(layer)
    if not any(n in IDENTITY_CLASSES for n in names):
        raise plan_error(
            stmt,
            f"`using weights=identity` starts a {', '.join(IDENTITY_CLASSES)} layer as the identity; "
            f"`{type(layer).__name__}` has no identity start (drop the policy for fresh weights)"
        )


# ------------------------------------------------------------------ replace


class _ChainReader:
    """`@field` reads the chain's first layer; `@c.field` reads capture `c`."""

    def __init__(self, readers: dict[str, FieldReader], head: FieldReader):
        self.readers = readers
        self.head = head

    def __call__(self, key: str) -> Any:
        if "." in key:
            capture, name = key.split(".", 1)
            return self.readers[capture](name)
        return self.head(key)


def _chains(plan: Plan, view: GraphView, chain: list[ast.Capture]) -> tuple[list[list[LayerInfo]], list[tuple[LayerInfo, str]]]:
    heads, near = candidates_for(plan, view, chain[0].selector)
    found: list[list[LayerInfo]] = []
    used: set[str] = set()
    g = view.graph
    for head in heads:
        if head.virtual:
            near.append((head, "added by an earlier statement; replace it in the statement that adds it"))
            continue
        if head.owner is not None:
            near.append((head, f"lives inside the wrapper `{head.owner}`"))
            continue
        seq, reason = [head], ""
        if len(chain) > 1 and len(head.calls) != 1:
            reason = f"is called {len(head.calls)} times; a chain needs layers called once"
        node = head.calls[0] if head.calls else None
        for link in chain[1:]:
            if reason or node is None:
                break
            data = g.nodes[node]
            edges = list(g.out_edges(node))
            if data.get("is_output"):
                reason = f"the output of `{data['path']}` is also a model output"
                break
            if len(edges) != 1:
                reason = f"the output of `{data['path']}` feeds {len(edges)} layers (a chain does not cross a branch)"
                break
            nxt = edges[0][1]
            info = view.layers.get(g.nodes[nxt]["path"])
            if info is not None and plan.gone(info.key):
                reason = f"`{info.path}` after `{data['path']}` was removed or replaced by an earlier statement"
                break
            if info is None or len(info.calls) != 1 or g.in_degree(nxt) != 1:
                reason = f"`{g.nodes[nxt]['path']}` after `{data['path']}` is not a single-input layer called once"
                break
            verdict = judge(link.selector, info, FieldReader(info, plan.overrides(info.key)), plan.params)
            if not verdict.matched:
                reason = f"next layer `{info.path}`: {verdict.reason}"
                break
            seq.append(info)
            node = nxt
        paths = {i.path for i in seq}
        if not reason and paths & used:
            reason = "overlaps a chain matched before it"
        if reason:
            near.append((head, reason))
            continue
        used |= paths
        found.append(seq)
    return found, near


def _replace(plan: Plan, view: GraphView, cs: RuleStatement, stmt: ast.Replace, out: StatementOutcome) -> None:
    chains, out.near = _chains(plan, view, stmt.chain)
    transform = transforms.get(stmt.call.name) if stmt.call.name in transforms.known() else None
    cls = None if transform else construct.layer_class(stmt.call.name)
    if transform is not None and transform.preserves_function and chains:
        expect = ast.ExpectOutputs(outcome="equal", atol=PRESERVING_ATOL, rtol=PRESERVING_RTOL)
        out.preserving = OutputExpectation(expect, transform=transform.name, file=stmt.file, line=stmt.line)
    for seq in chains:
        head = seq[0]
        for info in seq:
            if plan.edits.get(info.key) and plan.edits[info.key].wrapper is not None:
                raise plan_error(stmt, f"`{info.path}` was wrapped by an earlier statement; it cannot also be replaced")
        readers = {cap.name: FieldReader(info, plan.overrides(info.key)) for cap, info in zip(stmt.chain, seq) if cap.name}
        if transform is not None:
            if transform.chain_length is not None and transform.chain_length != len(seq):
                raise plan_error(stmt, f"transform `{transform.name}` takes a chain of {transform.chain_length} layer(s), the pattern has {len(seq)}")
            match = transforms.TransformMatch(
                layers=[i.layer for i in seq],
                configs=[{**i.config, **plan.overrides(i.key)} for i in seq],
                captures={cap.name: i.layer for cap, i in zip(stmt.chain, seq) if cap.name},
                paths=[i.path for i in seq],
            )
            try:
                results = transform.fn(match)
            except transforms.TransformSkip as skip:
                out.skips.append(Skip(layer=head.path, reason=f"{transform.name}: {skip}"))
                continue
            new_layers = [(r.layer, r.weights) for r in results]
        else:
            assert cls is not None
            reader = _ChainReader(readers, FieldReader(head, plan.overrides(head.key)))
            args, kwargs = construct.arguments(stmt.call, stmt, plan.params, reader)
            kwargs.setdefault("name", plan.overrides(head.key).get("name", head.name))
            new_layers = [(construct.instantiate(cls, args, kwargs, stmt, stmt.call.text()), None)]
        edit = plan.edit(head)
        if edit.replacement:
            raise plan_error(stmt, f"`{head.path}` was already replaced by an earlier statement")
        added = [
            _add(plan, view, head, layer, "replacement", cs, weights=weights, carry_from=head.key if (weights is None and n == 0) else None)
            for n, (layer, weights) in enumerate(new_layers)
        ]
        edit.replacement = added
        edit.note(cs.index, stmt.policy)
        for info in seq[1:]:
            member = plan.edit(info)
            member.remove = True
            member.note(cs.index, stmt.policy)
        out.matched.extend(seq)
        out.structure.append(_change(view, "replaced", seq, added, stmt.call.name))


# ------------------------------------------------------------------ wrap


def _wrap(plan: Plan, view: GraphView, cs: RuleStatement, stmt: ast.Wrap, out: StatementOutcome) -> None:
    matched, out.near = candidates_for(plan, view, stmt.selector)
    cls = construct.layer_class(stmt.call.name)
    for info in matched:
        _reject_inner(info, stmt, "wrap")
        if info.virtual:
            raise plan_error(stmt, f"`{info.path}` is added by an earlier statement; add it wrapped instead")
        edit = plan.edit(info)
        if edit.wrapper is not None:
            out.skips.append(Skip(layer=info.path, reason=f"already wrapped in {edit.wrapper.class_name}"))
            continue
        reader = FieldReader(info, plan.overrides(info.key))
        args, kwargs = construct.arguments(stmt.call, stmt, plan.params, reader)
        base = f"{reader.get('name')}_{construct.snake(cls.__name__)}"
        kwargs.setdefault("name", construct.unique_name(base, _taken(plan, view, info.parent)))
        inner = type(info.layer).from_config({**info.config, **plan.overrides(info.key)})
        wrapper = construct.instantiate(cls, [inner, *args], kwargs, stmt, stmt.call.text())
        edit.wrapper = _add(plan, view, info, wrapper, "wrapper", cs, carry_from=info.key)
        edit.note(cs.index, stmt.policy)
        out.matched.append(info)
        out.structure.append(_change(view, "wrapped", [info], [edit.wrapper], cls.__name__, names=[f"{edit.wrapper.name}({info.name})"]))
