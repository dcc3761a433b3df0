"""Carry weights from the original layers to the rewritten ones.

Variables are paired per layer, by their path inside the layer (and by position
when both layers list the same names), and copied variable to variable. A pair
whose shapes differ follows the weight policy: `keep` refuses with an error that
names the layer, the weight, both shapes and the policy that would allow it;
`reinit` initializes it fresh; `slice` copies the overlapping block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import numpy as np

from rewrite.editplan import Plan
from rewrite.errors import WeightPolicyError
from rewrite.graphview import GraphView
from rewrite.materialize import Materialized
from rewrite.report import WeightAction, WeightSummary


@dataclass
class Transfer:
    summary: WeightSummary
    kept: list[tuple[str, Any, Any]] = field(default_factory=list)
    """(label, original variable, new variable) for every copied weight."""


def _relative(var: Any, layer: Any) -> str:
    """The variable's path inside its layer, e.g. `query/kernel` for an attention layer."""
    parts = var.path.split("/")
    name = layer.name
    if name in parts:
        index = len(parts) - 1 - parts[::-1].index(name)
        rel = "/".join(parts[index + 1 :])
        if rel:
            return rel
    return var.name


def _pair(old: Any, new: Any) -> tuple[list[tuple[str, Any, Any]], list[Any], list[Any]]:
    """(name, old var, new var) pairs, new vars without a source, old vars left over."""
    ow, nw = old.weights, new.weights
    if len(ow) == len(nw) and all(a.name == b.name for a, b in zip(ow, nw)):
        return [(_relative(b, new), a, b) for a, b in zip(ow, nw)], [], []
    olds = {_relative(v, old): v for v in ow}
    pairs, orphans = [], []
    for v in nw:
        key = _relative(v, new)
        if key in olds:
            pairs.append((key, olds.pop(key), v))
        else:
            orphans.append(v)
    return pairs, orphans, list(olds.values())


def transfer(view: GraphView, plan: Plan, built: Materialized) -> Transfer:
    """Copy every weight that can be kept; follow the policy for the rest."""
    result = Transfer(WeightSummary())
    actions: list[WeightAction] = []
    copied_values = 0
    for path, (old, new) in built.pairs.items():
        if isinstance(old, keras.Model):
            continue
        if new.weights:
            copied_values += _transfer_layer(path, old, new, view, plan, built, result.kept, actions)
        _carry_state(old, new)
    result.summary = WeightSummary(copied=len(result.kept), copied_values=copied_values, actions=actions)
    return result


def _transfer_layer(
    path: str,
    old: Any,
    new: Any,
    view: GraphView,
    plan: Plan,
    built: Materialized,
    kept: list[tuple[str, Any, Any]],
    actions: list[WeightAction],
) -> int:
    pairs, orphans, dropped = _pair(old, new)
    mismatched = [(k, a, b) for k, a, b in pairs if tuple(a.shape) != tuple(b.shape)]
    policy = plan.policy_for(path, view) if (mismatched or orphans) else "keep"
    if policy == "keep" and mismatched:
        key, a, b = mismatched[0]
        raise WeightPolicyError(
            f"layer `{path}`: weight `{key}` has shape {tuple(a.shape)} in the original but the rewritten "
            f"layer needs {tuple(b.shape)}; `using weights=keep` (the default) only copies weights unchanged. "
            "Add `using weights=reinit` (fresh values for what does not fit) or `using weights=slice` "
            f"(copy the overlapping block) to the statement that changed it: {plan.cause(path, view)}",
            layer=path,
            weight=key,
            old_shape=tuple(a.shape),
            new_shape=tuple(b.shape),
        )
    if policy == "keep" and orphans:
        raise WeightPolicyError(
            f"layer `{path}`: the rewritten layer has weight `{_relative(orphans[0], new)}` with no source in the "
            f"original; add `using weights=reinit` to the statement that changed it: {plan.cause(path, view)}",
            layer=path,
            weight=_relative(orphans[0], new),
        )
    copied_values = 0
    for key, a, b in pairs:
        if tuple(a.shape) == tuple(b.shape):
            if built.prefilled.get(id(b)) is not a:
                b.assign(a.value)
            kept.append((f"{path}/{key}", a, b))
            copied_values += int(np.prod(a.shape))
            continue
        # Variables that do not fit were created by the layer's own initializer.
        action: Literal["reinitialized", "sliced"] = "reinitialized"
        if policy == "slice" and len(a.shape) == len(b.shape):
            value = np.array(keras.ops.convert_to_numpy(b.value))
            block = tuple(slice(0, min(x, y)) for x, y in zip(a.shape, b.shape))
            value[block] = np.asarray(keras.ops.convert_to_numpy(a.value))[block]
            b.assign(value)
            action = "sliced"
        actions.append(WeightAction(layer=path, weight=key, action=action, old_shape=list(a.shape), new_shape=list(b.shape)))
    for b in orphans:
        actions.append(WeightAction(layer=path, weight=_relative(b, new), action="reinitialized", new_shape=list(b.shape)))
    for a in dropped:
        actions.append(WeightAction(layer=path, weight=_relative(a, old), action="dropped", old_shape=list(a.shape)))
    return copied_values


def _carry_state(old: Any, new: Any) -> None:
    """State that lives outside weights: lookup vocabularies, Normalization statistics."""
    if hasattr(old, "get_vocabulary") and hasattr(new, "set_vocabulary"):
        vocabulary = old.get_vocabulary()
        if vocabulary and list(new.get_vocabulary()) != list(vocabulary):
            new.set_vocabulary(vocabulary)
    if type(new).__name__ == "Normalization" and hasattr(new, "finalize_state") and new.built:
        new.finalize_state()
