"""Statements, in file order, applied to an edit plan (no model is built here).

Each statement sees the plan as the previous statements left it, is applied to all
of its matches at once, and never re-matches its own output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rewrite import ast
from rewrite.catalog import SETTABLE_SPECIAL, catalog
from rewrite.checking import value_problem
from rewrite.errors import PlanError
from rewrite.graphview import GraphView, LayerInfo
from rewrite.matching import FieldReader, select
from rewrite.report import FieldChange, NearMiss, Skip, StatementReport
from rewrite.ruleset import RuleSet
from rewrite.values import EvalError, compare, equal, evaluate, show

POLICY_ORDER = {"keep": 0, "slice": 1, "reinit": 2, "widen": 3}

@dataclass
class LayerEdit:
    """What changes for one layer: new field values and the weight policy."""

    info: LayerInfo
    overrides: dict[str, Any] = field(default_factory=dict)
    policy: str = "keep"
    statements: list[int] = field(default_factory=list)

@dataclass
class Plan:
    params: dict[str, Any]
    edits: dict[str, LayerEdit] = field(default_factory=dict)
    statements: list[StatementReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Unmet `expect matches` and, under strict, statements that matched nothing."""
    expect_outputs: list[tuple[str, ast.ExpectOutputs]] = field(default_factory=list)

    def overrides(self, path: str) -> dict[str, Any]:
        edit = self.edits.get(path)
        return edit.overrides if edit else {}

    def cause(self, path: str, view: GraphView) -> str:
        """Which statements reshaped a layer: its own edits, or edits upstream of it."""
        edit = self.edits.get(path)
        indices = list(edit.statements) if edit else []
        if not indices:
            for other in self.edits.values():
                if path in view.downstream(other.info.path):
                    indices += other.statements
        by_index = {s.index: s for s in self.statements}
        found = [f"`{by_index[i].source}` ({by_index[i].file}:{by_index[i].line})" for i in dict.fromkeys(indices) if i in by_index]
        return ", ".join(found) or "the rewrite"

    def policy_for(self, path: str, view: GraphView) -> str:
        """The policy for weight mismatches in a layer: its own edit's, or the most
        permissive of the edited layers upstream of it (whose change reshaped it)."""
        edit = self.edits.get(path)
        if edit and edit.policy != "keep":
            return edit.policy
        best = "keep"
        for other in self.edits.values():
            if POLICY_ORDER[other.policy] > POLICY_ORDER[best] and path in view.downstream(other.info.path):
                best = other.policy
        return best

def _check_value(info: LayerInfo, field_name: str, value: Any, stmt: ast.SetField) -> None:
    cls = catalog().classes.get(info.class_name)
    kind = cls.fields.get(field_name) if cls else None
    if kind:
        problem = value_problem(kind, value, catalog())
        if problem:
            raise PlanError(f"{stmt.file}:{stmt.line}:{stmt.column}: layer `{info.path}`: `{field_name} := {value!r}`: {problem}")

def build_plan(ruleset: RuleSet, view: GraphView, params: dict[str, Any], strict: bool = False) -> Plan:
    plan = Plan(params=params)
    rule_matches: dict[str, set[str]] = {}
    for cs in ruleset.statements:
        stmt = cs.statement
        matched, near = select(stmt.selector, view, plan.overrides, params)
        report_changes: list[FieldChange] = []
        skips: list[Skip] = []
        warnings: list[str] = []
        chosen: list[LayerInfo] = []
        pending: list[tuple[LayerInfo, Any, Any]] = []
        for info in matched:
            reader = FieldReader(info, plan.overrides(info.path))
            settable = stmt.field in SETTABLE_SPECIAL or stmt.field in info.config
            if not settable:
                if not stmt.selector.classes and not stmt.selector.alternatives:
                    near.append((info, f"has no field `{stmt.field}` to set"))
                    continue
                fields = ", ".join(sorted(info.config))
                raise PlanError(
                    f"{stmt.file}:{stmt.line}:{stmt.column}: layer `{info.path}` ({info.class_name}) has no field "
                    f"`{stmt.field}` to set; its fields: {fields}"
                )
            chosen.append(info)
            try:
                value = evaluate(stmt.value, params, reader)
            except EvalError as exc:
                raise PlanError(f"{stmt.file}:{stmt.line}:{stmt.column}: layer `{info.path}`: {exc}") from None
            _check_value(info, stmt.field, value, stmt)
            old = reader.get(stmt.field)
            if equal(stmt.field, old, value):
                skips.append(Skip(layer=info.path, reason=f"{stmt.field} is already {show(value)}"))
                continue
            pending.append((info, old, value))
        # All matches first, then all edits: a statement never sees its own output.
        if pending and stmt.policy == "widen":
            raise PlanError(
                f"{stmt.file}:{stmt.line}:{stmt.column}: `using weights=widen` (function-preserving widening) is "
                "not available in this version; use `using weights=slice` to keep the overlapping weights"
            )
        for info, old, value in pending:
            edit = plan.edits.setdefault(info.path, LayerEdit(info))
            edit.overrides[stmt.field] = value
            edit.statements.append(cs.index)
            policy = stmt.policy or "keep"
            if POLICY_ORDER[policy] > POLICY_ORDER[edit.policy]:
                edit.policy = policy
            report_changes.append(FieldChange(layer=info.path, field=stmt.field, old=old, new=value))
        if not chosen:
            warnings.append(f"`{stmt.source}` matched no layer" + (" (see near misses)" if near else ""))
            if strict:
                plan.problems.append(f"{stmt.file}:{stmt.line}: `{stmt.source}` matched no layer (--strict)")
        rule_id = cs.rule.id if cs.rule else None
        if rule_id:
            rule_matches.setdefault(rule_id, set()).update(i.path for i in chosen)
        plan.statements.append(
            StatementReport(
                index=cs.index,
                source=stmt.source,
                file=stmt.file,
                line=stmt.line,
                rule=rule_id,
                matches=[i.path for i in chosen],
                changes=report_changes,
                skips=skips,
                near_misses=[NearMiss(layer=i.path, reason=r) for i, r in near],
                warnings=warnings,
            )
        )
    _check_names(plan, view)
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
    """Renames must leave layer names unique within each model."""
    names: Counter[tuple[str, str]] = Counter()
    for path, info in view.layers.items():
        names[(info.parent, plan.overrides(path).get("name", info.name))] += 1
    clashes = [f"`{n}` in {p or 'the model'}" for (p, n), c in names.items() if c > 1]
    if clashes:
        raise PlanError(f"renaming would give two layers the same name: {', '.join(clashes)}; choose names that are unique")

__all__ = ["LayerEdit", "Plan", "build_plan"]
