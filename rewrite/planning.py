"""Statements, in file order, applied to an edit plan (no model is built here).

Each statement sees the plan as the previous statements left it (field values,
deleted layers, layers added by earlier statements), is applied to all of its
matches at once, and never re-matches its own output.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from rewrite import ast
from rewrite.catalog import SETTABLE_SPECIAL, catalog
from rewrite.checking import value_problem
from rewrite.editplan import LayerEdit, Plan
from rewrite.errors import PlanError
from rewrite.graphview import GraphView, LayerInfo
from rewrite.matching import FieldReader, select
from rewrite.report import FieldChange, NearMiss, Skip, StatementReport, StructureChange
from rewrite.ruleset import CompiledStatement, RuleSet
from rewrite.values import EvalError, compare, equal, evaluate, show

__all__ = ["LayerEdit", "Plan", "build_plan", "candidates_for"]


def where(stmt: ast.AnyStatement) -> str:
    return f"{stmt.file}:{stmt.line}:{stmt.column}"


def candidates_for(
    plan: Plan, view: GraphView, sel: ast.Selector
) -> tuple[list[LayerInfo], list[tuple[LayerInfo, str]]]:
    """Matches and near misses among the layers as the plan has left them."""
    return select(sel, view, plan.overrides, plan.params, extra=list(plan.added.values()), gone=plan.gone)


class Outcome:
    """What one statement did, collected for its report."""

    def __init__(self) -> None:
        self.matched: list[LayerInfo] = []
        self.near: list[tuple[LayerInfo, str]] = []
        self.changes: list[FieldChange] = []
        self.skips: list[Skip] = []
        self.structure: list[StructureChange] = []
        self.warnings: list[str] = []
        self.preserving: tuple[str, ast.ExpectOutputs] | None = None
        """Set by a transform that keeps the model's function: the check it implies."""


def _check_value(info: LayerInfo, field_name: str, value: Any, stmt: ast.SetField) -> None:
    cls = catalog().classes.get(info.class_name)
    kind = cls.fields.get(field_name) if cls else None
    if kind:
        problem = value_problem(kind, value, catalog())
        if problem:
            raise PlanError(f"{where(stmt)}: layer `{info.path}`: `{field_name} := {value!r}`: {problem}")


def apply_set_field(plan: Plan, view: GraphView, cs: CompiledStatement, out: Outcome) -> None:
    stmt = cs.statement
    assert isinstance(stmt, ast.SetField)
    matched, near = candidates_for(plan, view, stmt.selector)
    pending: list[tuple[LayerInfo, Any, Any]] = []
    for info in matched:
        reader = FieldReader(info, plan.overrides(info.key))
        if not (stmt.field in SETTABLE_SPECIAL or reader.has(stmt.field)):
            if not stmt.selector.classes and not stmt.selector.alternatives:
                near.append((info, f"has no field `{stmt.field}` to set"))
                continue
            fields = ", ".join(sorted(info.config))
            raise PlanError(f"{where(stmt)}: layer `{info.path}` ({info.class_name}) has no field `{stmt.field}` to set; its fields: {fields}")
        out.matched.append(info)
        try:
            value = evaluate(stmt.value, plan.params, reader)
        except EvalError as exc:
            raise PlanError(f"{where(stmt)}: layer `{info.path}`: {exc}") from None
        _check_value(info, stmt.field, value, stmt)
        old = reader.get(stmt.field)
        if equal(stmt.field, old, value):
            out.skips.append(Skip(layer=info.path, reason=f"{stmt.field} is already {show(value)}"))
            continue
        pending.append((info, old, value))
    out.near = near
    if stmt.policy == "widen":
        from rewrite.morphism import plan_widening

        for info, old, value in pending:
            plan.widenings.append(plan_widening(view, info, old, value, where(stmt)))
    # All matches first, then all edits: a statement never sees its own output.
    for info, old, value in pending:
        edit = plan.edit(info)
        edit.overrides[stmt.field] = value
        edit.note(cs.index, stmt.policy or "keep")
        out.changes.append(FieldChange(layer=info.path, field=stmt.field, old=old, new=value))


_WIDE = re.compile(r"\b(float64|int64|uint64|complex128)\b")


def _narrowed_dtypes(changes: list[FieldChange]) -> list[str]:
    """JAX keeps 64-bit values as 32-bit unless `jax_enable_x64` is on: the layer's
    dtype would say float64 while its variables hold float32, with no error."""
    wide = sorted({c.layer for c in changes if c.field == "dtype" and _WIDE.search(show(c.new))})
    if not wide:
        return []
    import keras

    if keras.backend.backend() != "jax":
        return []
    import jax

    if jax.config.jax_enable_x64:
        return []
    return [
        f"{', '.join(wide[:3])}{' ...' if len(wide) > 3 else ''}: on JAX, 64-bit dtypes hold 32-bit values unless "
        "`jax.config.update('jax_enable_x64', True)` runs first (or JAX_ENABLE_X64=1 is set); the variables stay float32"
    ]


def build_plan(ruleset: RuleSet, view: GraphView, params: dict[str, Any], strict: bool = False) -> Plan:
    from rewrite.structure import apply_structural

    plan = Plan(params=params)
    rule_matches: dict[str, set[str]] = {}
    preserving: list[tuple[str, ast.ExpectOutputs]] = []
    other_changes = False
    for cs in ruleset.statements:
        stmt = cs.statement
        out = Outcome()
        if isinstance(stmt, ast.SetField):
            apply_set_field(plan, view, cs, out)
        else:
            apply_structural(plan, view, cs, out)
        out.warnings += _narrowed_dtypes(out.changes)
        if not out.matched:
            out.warnings.append(f"`{stmt.source}` matched no layer" + (" (see near misses)" if out.near else ""))
            if strict:
                plan.problems.append(f"{stmt.file}:{stmt.line}: `{stmt.source}` matched no layer (--strict)")
        if out.preserving is not None:
            preserving.append(out.preserving)
        elif out.changes or out.structure:
            other_changes = True
        rule_id = cs.rule.id if cs.rule else None
        if rule_id:
            rule_matches.setdefault(rule_id, set()).update(i.path for i in out.matched)
        plan.statements.append(
            StatementReport(
                index=cs.index,
                source=stmt.source,
                file=stmt.file,
                line=stmt.line,
                rule=rule_id,
                matches=[i.path for i in out.matched],
                changes=out.changes,
                structure=out.structure,
                skips=out.skips,
                near_misses=[NearMiss(layer=i.path, reason=r) for i, r in out.near],
                warnings=out.warnings,
            )
        )
    _check_names(plan, view)
    if preserving and not other_changes:
        plan.expect_outputs += preserving
    elif preserving:
        names = ", ".join(sorted({name.split(",")[0] for name, _ in preserving}))
        plan.notes.append(
            f"{names} keeps the model's outputs on its own; the whole-model `expect outputs equal` check it implies "
            "is skipped because other statements change what the model computes"
        )
    for rule in ruleset.rules:
        count = len(rule_matches.get(rule.id, set()))
        for expect in rule.expects:
            if isinstance(expect, ast.ExpectMatches):
                if not compare("count", expect.op, count, expect.count):
                    plan.problems.append(
                        f"{rule.file}:{expect.line}: rule `{rule.id}` expects matches {expect.op} {expect.count}, "
                        f"but its statements matched {count} layer(s)"
                    )
            else:
                plan.expect_outputs.append((rule.id, expect))
    return plan


def _check_names(plan: Plan, view: GraphView) -> None:
    """Renames and added layers must leave layer names unique within each model."""
    names: Counter[tuple[str, str]] = Counter()
    for path, info in view.layers.items():
        if info.owner is None and not plan.gone(path):
            names[(info.parent, plan.overrides(path).get("name", info.name))] += 1
    for path, info in plan.added.items():
        names[(info.parent, plan.overrides(path).get("name", info.name))] += 1
    clashes = [f"`{n}` in {p or 'the model'}" for (p, n), c in names.items() if c > 1]
    if clashes:
        raise PlanError(f"the rewrite would give two layers the same name: {', '.join(clashes)}; choose names that are unique")
    import keras

    if keras.backend.backend() == "torch":
        # PyTorch addresses submodules by dotted paths and refuses a "." in a name.
        dotted = sorted({n for _, n in names if "." in str(n)})
        if dotted:
            raise PlanError(
                f"layer names cannot contain `.` on the torch backend (PyTorch addresses modules by dotted paths): "
                f"{', '.join(f'`{n}`' for n in dotted)}; choose a name without dots, or use another backend"
            )
