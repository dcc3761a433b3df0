"""Statements, in file order, applied to an edit plan (no model is built here).

Each statement sees the plan as the previous statements left it (field values,
deleted layers, layers added by earlier statements), is applied to all of its
matches at once, and never re-matches its own output.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rewrite.errors import Diagnostic, PlanError, RuleCheckError
from rewrite.graphview.view import GraphView
from rewrite.lang import ast
from rewrite.lang.catalog import catalog
from rewrite.lang.expressions import compare
from rewrite.lang.loader import CheckedRules
from rewrite.planner.plan import OutputExpectation, Plan, StatementOutcome
from rewrite.planner.pruning import apply_prune, cost
from rewrite.planner.quantize import apply_quantize
from rewrite.planner.set_field import apply_set_field, narrowed_dtypes
from rewrite.planner.structural import apply_structural, check_growth
from rewrite.report.data import NearMiss, StatementReport

__all__ = ["build_plan"]

def build_plan(ruleset: CheckedRules, view: GraphView, params: dict[str, Any], strict: bool = False) -> Plan:

    plan = Plan(params=params)
    rule_matches: dict[str, set[str]] = {}
    preserving: list[OutputExpectation] = []
    other_changes = False
    for cs in ruleset.statements:
        stmt = cs.statement
        out = StatementOutcome()
        if isinstance(stmt, ast.SetField):
            apply_set_field(plan, view, cs, out)
        elif isinstance(stmt, ast.Quantize):
            apply_quantize(plan, view, cs, out)
        elif isinstance(stmt, ast.Prune):
            apply_prune(plan, view, cs, out)
        else:
            apply_structural(plan, view, cs, out)
        out.warnings += narrowed_dtypes(out.changes)
        check_growth(plan, view, stmt)
        if not out.matched:
            out.warnings.append(f"`{stmt.source}` matched no layer" + (" (see near misses)" if out.near else ""))
            if strict:
                plan.problems.append(Diagnostic(stmt.file, stmt.line, stmt.column, f"`{stmt.source}` matched no layer (--strict)", code="no-match"))
        if out.preserving is not None:
            preserving.append(out.preserving)
        elif out.structure or any(c.field != "trainable" for c in out.changes):
            other_changes = True  # what trains is not what the model computes
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
                pruned=out.pruned,
            )
        )
    if plan.pruning is not None and (plan.structural or plan.added):
        raise PlanError(
            "pruning follows the model's own graph, so rules that prune cannot also `delete`, `insert`, `replace` or "
            "`wrap`: prune in a rewrite of its own, then apply the structural rules to its result"
        )
    _check_names(plan, view)
    if preserving and not other_changes:
        plan.expect_outputs += preserving
    elif preserving:
        names = ", ".join(sorted({str(p.transform) for p in preserving}))
        plan.notes.append(
            f"{names} keeps the model's outputs on its own; the whole-model `expect outputs equal` check it implies "
            "is skipped because other statements change what the model computes"
        )
    for rule in ruleset.rules:
        count = len(rule_matches.get(rule.id, set()))
        for expect in rule.expects:
            if isinstance(expect, ast.ExpectCost):
                plan.budgets.append((expect, rule.id, rule.file))
            elif isinstance(expect, ast.ExpectMatches):
                if not compare("count", expect.op, count, expect.count):
                    message = f"rule `{rule.id}` expects matches {expect.op} {expect.count}, but its statements matched {count} layer(s)"
                    plan.problems.append(Diagnostic(rule.file, expect.line, expect.column, message, code="expect-matches"))
            else:
                plan.expect_outputs.append(OutputExpectation(expect, rule=rule.id, file=rule.file, line=expect.line))
    if plan.pruning is not None or plan.budgets:
        plan.cost = cost(view, plan.pruning)
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


def check_against_model(ruleset: CheckedRules, view: GraphView) -> set[tuple[str, int, int]]:
    """Classes the catalogue did not know (custom layers) must exist in the model.

    Returns where the rules name the custom classes the model has: the warnings
    `check` gave there ("not a Keras layer class") are settled.
    """
    present = set(view.by_class)
    found = []
    settled = set()
    for cs in ruleset.statements:
        for sel in (node for top in ast.selectors(cs.statement) for node in ast.selector_nodes(top)):
            for name in sel.classes:
                if not catalog().knows(name) and name in present:
                    settled.add((cs.statement.file, sel.line, sel.column))
                elif not catalog().knows(name):
                    hint = catalog().suggest(name, present)
                    extra = f"; did you mean `{hint}`?" if hint else f"; the model's classes: {', '.join(sorted({i.class_name for i in view.layers.values()}))}"
                    found.append(Diagnostic(cs.statement.file, sel.line, sel.column, f"no layer of class `{name}` in the model{extra}", code="unknown-class"))
    if found:
        raise RuleCheckError(ruleset.sourced(found))
    return settled
