"""`SELECTOR.FIELD := EXPR` on the plan: every match first, then every edit."""

from __future__ import annotations

import re
from typing import Any

from rewrite.graphview.view import GraphView, LayerInfo
from rewrite.lang import ast
from rewrite.lang.catalog import SETTABLE_SPECIAL, catalog
from rewrite.lang.checks import value_problem
from rewrite.lang.expressions import EvalError, equal, evaluate, show
from rewrite.lang.loader import RuleStatement
from rewrite.planner.plan import (
    PRESERVING_ATOL,
    PRESERVING_RTOL,
    OutputExpectation,
    Plan,
    StatementOutcome,
    plan_error,
)
from rewrite.planner.pruning import apply_prune_field
from rewrite.planner.selection import FieldReader, candidates_for, fields_of
from rewrite.planner.widening import plan_widening
from rewrite.report.data import FieldChange, Skip

_INTEGER_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


def _check_value(info: LayerInfo, field_name: str, value: Any, stmt: ast.SetField) -> None:
    if field_name == "dtype" and value in _INTEGER_DTYPES and info.layer is not None and info.layer.weights:
        raise plan_error(
            stmt,
            f"layer `{info.path}` ({info.class_name}) holds float weights; under the `{value}` policy Keras would "
            "compute and store them as integers (and cannot initialize them): give it a float policy (float32, "
            "bfloat16, mixed_bfloat16, ...), or write `quantize SELECTOR int8` to store int8 weights with a scale",
        )
    cls = catalog().classes.get(info.class_name)
    kind = cls.fields.get(field_name) if cls else None
    if kind:
        problem = value_problem(kind, value, catalog())
        if problem:
            raise plan_error(stmt, f"layer `{info.path}`: `{field_name} := {value!r}`: {problem}")


def apply_set_field(plan: Plan, view: GraphView, cs: RuleStatement, out: StatementOutcome) -> None:
    stmt = cs.statement
    assert isinstance(stmt, ast.SetField)
    matched, near = candidates_for(plan, view, stmt.selector)
    pending: list[tuple[LayerInfo, Any, Any]] = []
    for info in matched:
        reader = FieldReader(info, plan.overrides(info.key))
        if not (stmt.field in SETTABLE_SPECIAL or reader.has(stmt.field)):
            if not stmt.selector.classes:  # `*` or alternatives: the layers that have the field are meant
                near.append((info, f"has no field `{stmt.field}` to set"))
                continue
            fields = ", ".join(fields_of(info))
            raise plan_error(stmt, f"layer `{info.path}` ({info.class_name}) has no field `{stmt.field}` to set; its fields: {fields}")
        out.matched.append(info)
        try:
            value = evaluate(stmt.value, plan.params, reader)
        except EvalError as exc:
            raise plan_error(stmt, f"layer `{info.path}`: {exc}") from None
        _check_value(info, stmt.field, value, stmt)
        old = reader.get(stmt.field)
        if equal(stmt.field, old, value):
            out.skips.append(Skip(layer=info.path, reason=f"{stmt.field} is already {show(value)}"))
            continue
        pending.append((info, old, value))
    out.near = near
    if stmt.field == "lora_rank" and pending and (all(not old for _, old, _ in pending) or all(not new for _, _, new in pending)):
        # New adapters start with B = 0 (Keras's enable_lora), and adapters taken away are
        # folded into the kernel: either way the model computes what it did.
        expect = ast.ExpectOutputs(outcome="equal", atol=PRESERVING_ATOL, rtol=PRESERVING_RTOL)
        out.preserving = OutputExpectation(expect, transform="lora_rank", file=stmt.file, line=stmt.line)
    if stmt.policy == "widen":

        for info, old, value in pending:
            plan.widenings.append(plan_widening(view, info, old, value, stmt))
    if stmt.policy == "prune":
        apply_prune_field(plan, view, cs, out, pending)
        return
    # All matches first, then all edits: a statement never sees its own output.
    for info, old, value in pending:
        edit = plan.edit(info)
        edit.overrides[stmt.field] = value
        edit.note(cs.index, stmt.policy or "keep")
        out.changes.append(FieldChange(layer=info.path, field=stmt.field, old=old, new=value))


_WIDE = re.compile(r"\b(float64|int64|uint64|complex128)\b")


def narrowed_dtypes(changes: list[FieldChange]) -> list[str]:
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
