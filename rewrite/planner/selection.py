"""Selectors evaluated on the graph view's layers.

A layer's fields are its get_config() keys (as the plan has left them so far), the
arguments its constructor takes (`lora_rank`, which a config shows only once set,
reads as its default), plus `name`, `class`, `path`, `params`, `index` and `trainable`. Failing to match is
data: each candidate whose class fits but a predicate does not becomes a near miss
that says which predicates held and which one failed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rewrite.graphview.view import GraphView, LayerInfo
from rewrite.lang import ast
from rewrite.lang.expressions import EvalError, compare, evaluate, member, show, text_match
from rewrite.planner.plan import Plan

_MISSING = object()


_ARGUMENTS: dict[type, dict[str, Any]] = {}


def constructor_arguments(cls: type) -> dict[str, Any]:
    """The arguments `cls(...)` takes by name, with their defaults (None where there is none).

    `**kwargs` passed on to a base class count too (Keras's Layer: name, trainable, dtype...),
    as far as the signatures say.
    """
    if cls in _ARGUMENTS:
        return _ARGUMENTS[cls]
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            break
        passes_on = False
        for name, p in params.items():
            if p.kind is p.VAR_KEYWORD:
                passes_on = True
            elif name != "self" and p.kind is not p.VAR_POSITIONAL:
                found.setdefault(name, None if p.default is inspect.Parameter.empty else p.default)
        if not passes_on:
            break
    _ARGUMENTS[cls] = found
    return found


def fields_of(info: LayerInfo) -> list[str]:
    """Every field a layer has: its config's keys and its constructor's arguments."""
    return sorted(set(info.config) | set(constructor_arguments(type(info.layer))))


class FieldReader:
    """Reads a layer's fields, seeing the plan's pending overrides first."""

    def __init__(self, info: LayerInfo, overrides: Mapping[str, Any]):
        self.info = info
        self.overrides = overrides

    def get(self, field: str, default: Any = _MISSING) -> Any:
        info = self.info
        if field in self.overrides:
            return self.overrides[field]
        if field == "name":
            return info.name
        if field == "class":
            return info.class_name
        if field == "path":
            return info.path
        if field == "params":
            return info.params()
        if field == "index":
            return info.index
        if field == "trainable":
            return info.config.get("trainable", info.layer.trainable)
        if field == "activation" and not info.virtual:
            # Fast path: a built-in activation function is its config value, by name;
            # computing the whole config of every candidate costs more than matching.
            fn = getattr(info.layer, "activation", None)
            if callable(fn) and getattr(fn, "__module__", "").startswith("keras.src.activations"):
                return fn.__name__
        if field in info.config:
            return info.config[field]
        arguments = constructor_arguments(type(info.layer))
        if field in arguments:  # a constructor argument the config leaves out until it is set
            return arguments[field]
        if default is not _MISSING:
            return default
        raise KeyError(field)

    def has(self, field: str) -> bool:
        try:
            self.get(field)
        except KeyError:
            return False
        return True

    def __call__(self, field: str) -> Any:
        """For `@field` in expressions: a clear error where the layer lacks the field."""
        if not self.has(field):
            fields = ", ".join(sorted(self.info.config))
            raise EvalError(f"layer `{self.info.path}` ({self.info.class_name}) has no field `{field}`; its fields: {fields}")
        return self.get(field)


@dataclass(frozen=True)
class Verdict:
    matched: bool
    class_ok: bool
    reason: str = ""


def class_matches(sel: ast.Selector, info: LayerInfo) -> bool:
    if sel.alternatives:
        return any(class_matches(a, info) for a in sel.alternatives)
    return not sel.classes or sel.classes[0] in info.class_names


def _check_predicate(pred: ast.Predicate, fields: FieldReader, params: Mapping[str, Any]) -> tuple[bool, str]:
    if not fields.has(pred.field):
        return False, f"has no field `{pred.field}`"
    actual = fields.get(pred.field)
    try:
        if isinstance(pred, ast.Compare):
            expected = evaluate(pred.value, params, fields)
            ok = compare(pred.field, pred.op, actual, expected)
            want = f"{pred.op} {show(expected)}"
        elif isinstance(pred, ast.TextMatch):
            ok = text_match(pred.pattern, actual) != pred.negated
            pat = f'"{pred.pattern.pattern}"' if isinstance(pred.pattern, ast.Glob) else f"/{pred.pattern.pattern}/"
            want = f"{'!~' if pred.negated else '~'} {pat}"
        else:
            values = evaluate(pred.values, params, fields)
            ok = member(pred.field, actual, values) != pred.negated
            want = f"{'not in' if pred.negated else 'in'} {show(values)}"
    except EvalError as exc:
        return False, str(exc)
    if ok:
        return True, f"{pred.field} ok"
    return False, f"{pred.field} is {show(actual)}, wanted {want}"


def judge(sel: ast.Selector, info: LayerInfo, fields: FieldReader, params: Mapping[str, Any]) -> Verdict:
    """Whether the selector matches the layer, and if not, why."""
    if sel.alternatives:
        verdicts = [judge(a, info, fields, params) for a in sel.alternatives]
        fitting = [v for v in verdicts if v.class_ok]
        if not fitting:
            return Verdict(False, False, f"class {info.class_name} is none of {sel.text()}")
        if not any(v.matched for v in fitting):
            return Verdict(False, True, fitting[0].reason)
        held = [f"class {info.class_name} ok"]
    else:
        if sel.classes and sel.classes[0] not in info.class_names:
            return Verdict(False, False, f"class {info.class_name} is not {sel.classes[0]}")
        held = [f"class {info.class_name} ok"]
    for pred in sel.predicates:
        ok, what = _check_predicate(pred, fields, params)
        if not ok:
            return Verdict(False, True, ", ".join([*held, what]))
        held.append(what)
    return Verdict(True, True, ", ".join(held))


def candidates(sel: ast.Selector, view: GraphView, extra: list[LayerInfo] | None = None) -> list[LayerInfo]:
    """Layers whose class could match, from the class index (in topological order),
    then `extra` layers (those the plan adds) whose class could match."""
    leaves = ast.leaf_selectors(sel)
    names = {leaf.classes[0] for leaf in leaves if leaf.classes}
    added = list(extra or [])
    if any(not leaf.classes for leaf in leaves):
        return list(view.layers.values()) + added
    seen: dict[str, LayerInfo] = {}
    for name in names:
        for info in view.by_class.get(name, []):
            seen[info.path] = info
    return sorted(seen.values(), key=lambda i: i.index) + [i for i in added if names & set(i.class_names)]


def select(
    sel: ast.Selector,
    view: GraphView,
    overrides_for: Callable[[str], Mapping[str, Any]],
    params: Mapping[str, Any],
    extra: list[LayerInfo] | None = None,
    gone: Callable[[str], bool] | None = None,
) -> tuple[list[LayerInfo], list[tuple[LayerInfo, str]]]:
    """(matched layers, near misses with their reason), both in topological order.

    `extra` are layers the plan adds; `gone(path)` tells layers the plan removed.
    """
    matched: list[LayerInfo] = []
    near: list[tuple[LayerInfo, str]] = []
    for info in candidates(sel, view, extra):
        if gone is not None and gone(info.key):
            continue
        fields = FieldReader(info, overrides_for(info.key))
        verdict = judge(sel, info, fields, params)
        if verdict.matched:
            matched.append(info)
        elif verdict.class_ok:
            near.append((info, verdict.reason))
    return matched, near


def candidates_for(
    plan: Plan, view: GraphView, sel: ast.Selector
) -> tuple[list[LayerInfo], list[tuple[LayerInfo, str]]]:
    """Matches and near misses among the layers as the plan has left them."""
    return select(sel, view, plan.overrides, plan.params, extra=list(plan.added.values()), gone=plan.gone)
