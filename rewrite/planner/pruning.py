"""Structured pruning on the plan: rank each channel group's channels, keep the most important.

Two statements prune. `prune SELECTOR by CRITERION ratio=R [min=N] [except SELECTOR]`
removes the share R of the channels of every group whose producers the selector
matches; `SELECTOR.filters := N using weights=prune(CRITERION)` (or `.units`) keeps
N channels of each matched layer's group. A group is ranked once, with one
importance per channel summed over its producers:

    l1, l2   the norm of the weights that compute the channel (each producer's filter)
    bn       |gamma| of the BatchNormalization layers that scale the group's channels
    random   a draw seeded by the group's producers: a deterministic baseline

The channels kept are the most important, in their original order. The plan
records them per group; the build slices every member's weights by them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewrite.graphview.view import GraphView, LayerInfo
from rewrite.lang import ast
from rewrite.lang.checks import prune_option_problem
from rewrite.lang.expressions import EvalError, evaluate
from rewrite.lang.loader import RuleStatement
from rewrite.planner.channel_groups import ChannelGroups, channel_groups, member_axis
from rewrite.planner.plan import Plan, StatementOutcome, plan_error
from rewrite.planner.selection import candidates_for
from rewrite.report.data import Cost, FieldChange, PrunedGroup, Skip

KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")
"""The variables whose size times the output positions is a layer's multiply-accumulates."""


@dataclass
class Pruning:
    """The pruning a plan carries: the model's channel groups and the channels each pruned group keeps."""

    groups: ChannelGroups
    kept: dict[int, np.ndarray] = field(default_factory=dict)

    def input_width(self, node: str) -> int | None:
        """The channels a nested model's input (by graph node) takes once pruned; None when it keeps its width."""
        layout = self.groups.nested_inputs.get(node)
        if layout is None or not self.groups.touched(layout, self.kept):
            return None
        return len(self.groups.indices(layout, self.kept))

    def slices(self, path: str) -> dict[str, list[tuple[int, np.ndarray]]]:
        """For the layer at `path`: weight name -> the (axis, indices kept) to take from the original."""
        found: dict[str, list[tuple[int, np.ndarray]]] = {}
        roles = self.groups.roles.get(path, [])
        if not any(self.groups.touched(r.layout, self.kept) for r in roles):
            return found
        for role in roles:
            if role.kind == "reshape" or not self.groups.touched(role.layout, self.kept):
                continue
            index = self.groups.indices(role.layout, self.kept)
            if role.kind == "producer":
                found.setdefault("kernel", []).append((-1, index))
                found.setdefault("bias", []).append((-1, index))
            elif role.kind == "consumer":
                found.setdefault("kernel", []).append((-2, index))
            else:
                for name in ("gamma", "beta", "moving_mean", "moving_variance", "bias", "alpha", "kernel", "depthwise_kernel"):
                    axis = member_axis(None, name)
                    found.setdefault(name, []).append((axis, index))
        return found


def _pruning(plan: Plan, view: GraphView, at: ast.AnyStatement) -> Pruning:
    if plan.structural or plan.added:
        raise plan_error(at, "pruning follows the model's own graph: put `prune` statements before `delete`, `insert`, `replace` and `wrap`")
    if plan.pruning is None:
        if not view.has_graph:
            raise plan_error(at, "pruning follows the graph of layer calls, which a subclassed model does not have; build the model functionally")
        plan.pruning = Pruning(channel_groups(view))
    pruning: Pruning = plan.pruning
    return pruning


def _array(var: Any) -> np.ndarray:
    return np.asarray(var.numpy() if hasattr(var, "numpy") else var)


def importance(view: GraphView, groups: ChannelGroups, root: int, criterion: str) -> tuple[np.ndarray, str | None]:
    """One score per channel of the group (higher is kept first), and a note when the criterion fell back."""
    group = groups.groups[root]
    if criterion == "random":
        seed = zlib.crc32(",".join(group.producers).encode())
        return np.random.default_rng(seed).random(group.size), None
    if criterion == "bn":
        score = np.zeros(group.size)
        found = False
        for path, roles in groups.roles.items():
            layer = view.layers[path].layer
            gamma = getattr(layer, "gamma", None)
            if "BatchNormalization" not in view.layers[path].class_names or gamma is None:
                continue
            for role in roles:
                if role.layout.repeat == 1 and len(role.layout.segments) == 1 and groups.find(role.layout.segments[0][0]) == root:
                    score += np.abs(_array(gamma))
                    found = True
        if found:
            return score, None
        criterion = "l1"
        note = f"the group of {', '.join(group.producers)} has no BatchNormalization to rank by: ranked by l1"
    else:
        note = None
    score = np.zeros(group.size)
    for path in group.producers:
        kernel = _array(view.layers[path].layer.kernel).reshape(-1, group.size)
        score += np.abs(kernel).sum(axis=0) if criterion == "l1" else np.sqrt((kernel**2).sum(axis=0))
    return score, note


def choose(score: np.ndarray, keep: int) -> np.ndarray:
    """The `keep` highest-scoring channels, lower index first among equals, in ascending order."""
    order = np.lexsort((np.arange(len(score)), -score))
    return np.sort(order[:keep])


def _number(expr: ast.Expr | None, plan: Plan, at: ast.AnyStatement, default: Any) -> Any:
    if expr is None:
        return default
    try:
        return evaluate(expr, plan.params)
    except EvalError as exc:
        raise plan_error(at, str(exc)) from None


def apply_prune(plan: Plan, view: GraphView, cs: RuleStatement, out: StatementOutcome) -> None:
    """`prune SELECTOR by CRITERION ratio=R [min=N] [except SELECTOR]`."""
    stmt = cs.statement
    assert isinstance(stmt, ast.Prune)
    ratio = _number(stmt.ratio, plan, stmt, 0)
    least = _number(stmt.min, plan, stmt, 1)
    for name, value in (("ratio", ratio), ("min", least)):
        problem = prune_option_problem(name, value)
        if problem:
            raise plan_error(stmt, problem)
    pruning = _pruning(plan, view, stmt)
    groups = pruning.groups
    matched, near = candidates_for(plan, view, stmt.selector)
    excluded = {i.path for i in candidates_for(plan, view, stmt.exclude)[0]} if stmt.exclude is not None else set()
    chosen: dict[int, list[LayerInfo]] = {}
    for info in matched:
        if info.path in excluded:
            continue
        gid = groups.by_producer.get(info.path)
        if gid is None:
            continue  # not a layer whose output channels shrink
        out.matched.append(info)
        chosen.setdefault(groups.find(gid), []).append(info)
    out.near = near
    reported: list[PrunedGroup] = []
    for root in sorted(chosen):
        group = groups.groups[root]
        first = chosen[root][0].path
        if group.pinned:
            out.skips.append(Skip(layer=first, reason=f"its channel group cannot shrink: {group.pinned[0]}"))
            continue
        if excluded & set(group.producers):
            out.skips.append(Skip(layer=first, reason=f"its channel group also holds {', '.join(sorted(excluded & set(group.producers)))}, which `except` keeps whole"))
            continue
        if root in pruning.kept:
            out.skips.append(Skip(layer=first, reason="its channel group was pruned by an earlier statement; a group is pruned once"))
            continue
        keep = max(min(least, group.size), group.size - int(group.size * ratio))
        if keep == group.size:
            out.skips.append(Skip(layer=first, reason=f"{group.size} channel(s) at ratio={ratio} leave nothing to remove"))
            continue
        reported.append(_prune_group(plan, view, pruning, root, keep, stmt.criterion, cs.index, out))
    out.pruned = reported


def apply_prune_field(plan: Plan, view: GraphView, cs: RuleStatement, out: StatementOutcome, pending: list[tuple[LayerInfo, Any, Any]]) -> None:
    """`SELECTOR.filters|units := N using weights=prune(CRITERION)`: each matched layer's group keeps N channels."""
    stmt = cs.statement
    assert isinstance(stmt, ast.SetField) and stmt.criterion is not None
    pruning = _pruning(plan, view, stmt)
    groups = pruning.groups
    wanted: dict[int, tuple[int, str]] = {}
    for info, old, value in pending:
        gid = groups.by_producer.get(info.path)
        if gid is None:
            raise plan_error(stmt, f"`{info.path}` ({info.class_name}) has no output channels pruning can shrink; it prunes Conv1D/2D/3D and Dense")
        root = groups.find(gid)
        group = groups.groups[root]
        if group.pinned:
            raise plan_error(stmt, f"cannot prune `{info.path}`: its channel group cannot shrink: {group.pinned[0]}")
        if not (isinstance(value, int) and 1 <= value <= old):
            raise plan_error(stmt, f"pruning `{info.path}` keeps between 1 and its {old} channels (got {value!r}); to grow it, use `using weights=widen`")
        if root in wanted and wanted[root][0] != value:
            raise plan_error(
                stmt,
                f"`{info.path}` and `{wanted[root][1]}` share one channel group ({', '.join(group.producers)}), so they keep the "
                f"same channels; the rule asks for {value} and {wanted[root][0]}",
            )
        if root in pruning.kept:
            raise plan_error(stmt, f"the channel group of `{info.path}` was pruned by an earlier statement; a group is pruned once")
        wanted[root] = (value, info.path)
    out.pruned = [_prune_group(plan, view, pruning, root, keep, stmt.criterion, cs.index, out) for root, (keep, _) in sorted(wanted.items())]


def _prune_group(plan: Plan, view: GraphView, pruning: Pruning, root: int, keep: int, criterion: str, index: int, out: StatementOutcome) -> PrunedGroup:
    groups = pruning.groups
    group = groups.groups[root]
    score, note = importance(view, groups, root, criterion)
    if note:
        out.warnings.append(note)
    members = groups.members(root)
    for path in members:
        if "LayerNormalization" in view.layers[path].class_names:
            out.warnings.append(
                f"`{path}` (LayerNormalization) averages over the channels it normalizes: removing channels that are "
                "not zero changes its statistics, so its function is kept only approximately"
            )
    before = predicted_params(view, pruning, members)
    pruning.kept[root] = choose(score, keep)
    removed = before - predicted_params(view, pruning, members)
    for path in members:
        info = view.layers[path]
        edit = plan.edit(info)
        edit.note(index, None)
        if path in group.producers:
            name = "filters" if "filters" in info.config else "units"
            edit.overrides[name] = keep
            out.changes.append(FieldChange(layer=path, field=name, old=group.size, new=keep))
    for path, roles in groups.roles.items():
        for role in roles:
            if role.kind == "reshape" and groups.touched(role.layout, pruning.kept):
                info = view.layers[path]
                target = list(info.config.get("target_shape", []))
                if target and target[-1] != -1:
                    target[-1] = len(groups.indices(role.layout, pruning.kept))
                    old_target = tuple(info.config["target_shape"])
                    plan.edit(info).overrides["target_shape"] = tuple(target)
                    plan.edit(info).note(index, None)
                    out.changes.append(FieldChange(layer=path, field="target_shape", old=old_target, new=tuple(target)))
    return PrunedGroup(
        producers=list(group.producers),
        members=[m for m in members if m not in group.producers],
        channels_before=group.size,
        channels_after=keep,
        kept=[int(i) for i in pruning.kept[root]],
        params_removed=int(removed),
        criterion=criterion,
    )


# ------------------------------------------------------------------ cost


def _new_shape(shape: tuple[int, ...], cuts: list[tuple[int, np.ndarray]]) -> tuple[int, ...]:
    dims = list(shape)
    for axis, index in cuts:
        if dims and dims[axis] not in (1,) and dims[axis] >= len(index):
            dims[axis] = len(index)
    return tuple(dims)


def _variables(view: GraphView, paths: list[str] | None = None) -> list[tuple[str, Any, Any]]:
    """(path, layer, variable) for every variable of the model (or of the layers at `paths`), each once."""
    seen: set[int] = set()
    found = []
    for path in view.layers if paths is None else paths:
        info = view.layers[path]
        if info.owner is not None or info.is_model or info.layer is None:
            continue
        for v in info.layer.weights:
            if id(v) not in seen:
                seen.add(id(v))
                found.append((path, info.layer, v))
    return found


def predicted_params(view: GraphView, pruning: Pruning | None, paths: list[str] | None = None) -> int:
    """The parameter count the model (or the layers at `paths`) will have once `pruning` is applied."""
    total = 0
    cache: dict[str, dict[str, list[tuple[int, np.ndarray]]]] = {}
    for path, _, v in _variables(view, paths):
        if pruning is None:
            cuts = []
        else:
            if path not in cache:
                cache[path] = pruning.slices(path)
            cuts = cache[path].get(v.name, [])
        total += int(np.prod(_new_shape(tuple(v.shape), cuts)))
    return total


def predicted_macs(view: GraphView, pruning: Pruning | None) -> int:
    """Multiply-accumulates of the convolution and Dense layers for one sample: output positions x kernel size."""
    total = 0
    g = view.graph
    for path, info in view.layers.items():
        if info.owner is not None or info.is_model:
            continue
        kernels = [v for v in info.layer.weights if v.name in KERNELS]
        if not kernels:
            continue
        cuts = pruning.slices(path) if pruning is not None else {}
        size = sum(int(np.prod(_new_shape(tuple(v.shape), cuts.get(v.name, [])))) for v in kernels)
        for nid in info.calls:
            shapes = g.nodes[nid].get("output_shapes") or []
            if shapes and shapes[0] is not None:
                positions = int(np.prod([d or 1 for d in shapes[0][1:-1]])) if len(shapes[0]) > 2 else 1
                total += positions * size
    return total


def cost(view: GraphView, pruning: Pruning | None) -> Cost:
    """Parameters and multiply-accumulates before and after (as predicted from the plan)."""
    return Cost(
        params_before=predicted_params(view, None),
        params_after=predicted_params(view, pruning),
        macs_before=predicted_macs(view, None),
        macs_after=predicted_macs(view, pruning),
    )
