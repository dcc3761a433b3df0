"""Static checks of rule files, before any model is loaded (no Keras import).

Each finding is a :class:`~rewrite.errors.Diagnostic` with file:line:col and a
message that says what to do. Unknown classes that are not a near miss of a Keras
class are warnings here (they may be custom layers) and are checked again once a
model is given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from rewrite import transforms
from rewrite.errors import Diagnostic
from rewrite.lang import ast
from rewrite.lang.catalog import (
    NONLINEAR_LAYERS,
    SETTABLE_SPECIAL,
    SPECIAL_FIELDS,
    Catalog,
    catalog,
)
from rewrite.lang.expressions import (
    EvalError,
    evaluate,
    field_refs,
    is_constant,
    is_number,
    param_refs,
)


class Checker:
    def __init__(self, params: dict[str, ast.Param], cat: Catalog | None = None):
        self.cat = cat or catalog()
        self.params = params
        self.found: list[Diagnostic] = []

    def error(self, file: str, node: ast.Node, message: str, code: str = "check") -> None:
        self.found.append(Diagnostic(file, node.line, node.column, message, "error", code))

    def warn(self, file: str, node: ast.Node, message: str, code: str = "check") -> None:
        self.found.append(Diagnostic(file, node.line, node.column, message, "warning", code))

    # ---------------------------------------------------------------- classes

    def known_fields(self, class_name: str | None) -> set[str] | None:
        """Fields a selector on `class_name` may name; None when the class is unknown."""
        if class_name is None:
            return set(self.cat.all_fields | SPECIAL_FIELDS)
        if not self.cat.knows(class_name):
            return None
        fields: set[str] = set(SPECIAL_FIELDS)
        for sub in self.cat.subclasses(class_name):
            fields |= set(sub.fields)
        return fields

    def check_selector(self, file: str, sel: ast.Selector, inherited: list[ast.Predicate] | None = None) -> list[str | None]:
        """Check class names and predicate fields; return the class names (None for `*`)."""
        classes: list[str | None] = []
        for leaf in ast.leaf_selectors(sel):
            name = leaf.classes[0] if leaf.classes else None
            if name is not None and not self.cat.knows(name):
                hint = self.cat.suggest(name, set(self.cat.classes) | self.cat.base_names)
                if hint:
                    self.error(file, leaf, f"unknown layer class `{name}`; did you mean `{hint}`?", "unknown-class")
                    continue
                self.warn(
                    file,
                    leaf,
                    f"`{name}` is not a Keras layer class; if it is a custom layer, it is checked when a model is given",
                    "custom-class",
                )
            classes.append(name)
            self._check_predicates(file, leaf.predicates, [name])
        if sel.alternatives:
            self._check_predicates(file, sel.predicates, classes)
        return classes

    def _check_predicates(self, file: str, predicates: Iterable[ast.Predicate], classes: list[str | None]) -> None:
        for pred in predicates:
            refs = param_refs(pred.value) if isinstance(pred, ast.Compare) else param_refs(pred.values) if isinstance(pred, ast.Member) else []
            for ref in refs:
                self.check_param_ref(file, ref)
            allowed: set[str] = set()
            unknown = False
            for name in classes:
                fields = self.known_fields(name)
                if fields is None:
                    unknown = True
                else:
                    allowed |= fields
            if unknown or pred.field in allowed:
                continue
            hint = self.cat.suggest(pred.field, allowed)
            where = " | ".join(c or "*" for c in classes)
            extra = f"; did you mean `{hint}`?" if hint else f"; fields of {where}: {', '.join(sorted(allowed))}"
            self.error(file, pred, f"`{where}` has no field `{pred.field}`{extra}", "unknown-field")

    # ------------------------------------------------------------- statements

    def check_param_ref(self, file: str, ref: ast.ParamRef) -> None:
        if ref.name not in self.params:
            hint = self.cat.suggest(ref.name, set(self.params))
            extra = f"; did you mean `${hint}`?" if hint else f"; declare it with `param {ref.name} = VALUE`"
            self.error(file, ref, f"parameter `${ref.name}` is not declared{extra}", "unknown-param")

    def check_statement(self, stmt: ast.AnyStatement) -> None:
        if isinstance(stmt, ast.SetField):
            self.check_set_field(stmt)
        elif isinstance(stmt, ast.Delete):
            self.check_selector(stmt.file, stmt.selector)
        elif isinstance(stmt, ast.Insert):
            self.check_selector(stmt.file, stmt.selector)
            self.check_call(stmt.file, stmt.call, role="insert")
        elif isinstance(stmt, ast.Replace):
            for link in stmt.chain:
                self.check_selector(stmt.file, link.selector)
            self.check_call(stmt.file, stmt.call, role="replace", captures={c.name for c in stmt.chain if c.name})
        elif isinstance(stmt, ast.Quantize):
            self.check_selector(stmt.file, stmt.selector)
        elif isinstance(stmt, ast.Prune):
            self.check_prune(stmt)
        else:
            self.check_selector(stmt.file, stmt.selector)
            self.check_call(stmt.file, stmt.call, role="wrap")
        if stmt.policy == "prune" and not isinstance(stmt, ast.SetField):
            self.error(stmt.file, stmt, "`using weights=prune(...)` is for `SELECTOR.filters := ...` or `SELECTOR.units := ...`", "bad-policy")
        if stmt.policy == "identity" and not isinstance(stmt, ast.Insert):
            self.error(stmt.file, stmt, "`using weights=identity` is for `insert`: it starts the new layer as the identity", "bad-policy")
        if not isinstance(stmt, ast.Replace):
            for ref in _field_refs(stmt):
                if ref.capture:
                    self.error(stmt.file, ref, f"`@{ref.capture}.{ref.name}`: captures exist only in `replace` chains; write `@{ref.name}`", "bad-capture")

    def check_call(self, file: str, call: ast.Call, role: str, captures: set[str] | None = None) -> None:

        for ref in _call_refs(call):
            if ref.capture and ref.capture not in (captures or set()):
                known = ", ".join(sorted(captures or ())) or "none"
                self.error(file, ref, f"`@{ref.capture}.{ref.name}`: no capture `{ref.capture}` in this chain (captures: {known})", "bad-capture")
        for param in [r for e in [*call.args, *(v for _, v in call.kwargs)] for r in param_refs(e)]:
            self.check_param_ref(file, param)
        if call.name in transforms.known():
            if role != "replace":
                self.error(file, call, f"`{call.name}` is a transform; transforms are used with `replace ... with {call.name}`", "bad-call")
            if call.args or call.kwargs:
                self.error(file, call, f"transform `{call.name}` takes no arguments", "bad-call")
            return
        cls = self.cat.classes.get(call.name)
        if cls is None:
            hint = self.cat.suggest(call.name, set(self.cat.classes) | transforms.known())
            if hint:
                self.error(file, call, f"unknown layer class or transform `{call.name}`; did you mean `{hint}`?", "unknown-class")
            else:
                self.warn(file, call, f"`{call.name}` is neither a Keras layer class nor a known transform; it is looked up when the rules are applied", "custom-class")
            return
        if role == "wrap" and "Wrapper" not in cls.bases and call.name != "Bidirectional":
            self.error(file, call, f"`{call.name}` is not a wrapper; wrap in TimeDistributed or Bidirectional", "bad-call")
        for key, value in call.kwargs:
            if key not in cls.fields:
                hint = self.cat.suggest(key, set(cls.fields))
                extra = f"; did you mean `{hint}`?" if hint else f"; its arguments: {', '.join(sorted(cls.fields))}"
                self.error(file, value, f"`{call.name}` takes no argument `{key}`{extra}", "unknown-field")
                continue
            if is_constant(value):
                try:
                    problem = value_problem(cls.fields[key], evaluate(value), self.cat)
                except EvalError as exc:
                    problem = str(exc)
                if problem:
                    self.error(file, value, f"`{call.name}({key}=...)`: {problem}", "bad-value")

    def check_set_field(self, stmt: ast.SetField) -> None:
        file = stmt.file
        classes = self.check_selector(file, stmt.selector)
        for ref in param_refs(stmt.value):
            self.check_param_ref(file, ref)
        if stmt.field in SPECIAL_FIELDS - SETTABLE_SPECIAL:
            self.error(file, stmt, f"`{stmt.field}` is read-only; it can be used in a selector but not set", "read-only")
            return
        kinds: set[str] = set()
        # A custom class among the alternatives: which of them has the field, the model says.
        deferred = bool(stmt.selector.alternatives) and any(name is not None and not self.cat.knows(name) for name in classes)
        for name in [] if deferred else classes:
            if name is None:
                fields = self.known_fields(None) or set()
                if stmt.field not in fields:
                    self.error(file, stmt, f"no Keras layer has a field `{stmt.field}`", "unknown-field")
                continue
            if not self.cat.knows(name):
                continue
            subs = self.cat.subclasses(name)
            accepting = [c for c in subs if stmt.field in c.fields or stmt.field in SETTABLE_SPECIAL]
            if not accepting:
                self.error(file, stmt, self._no_field_message(name, stmt.field, ast.expr_text(stmt.value)), "unknown-field")
                continue
            kinds |= {c.fields.get(stmt.field, "any") for c in accepting}
        if stmt.policy in ("widen", "prune") and stmt.field not in ("units", "filters"):
            verb = "grows" if stmt.policy == "widen" else "shrinks"
            self.error(file, stmt, f"`using weights={stmt.policy}` {verb} `units` or `filters`, not `{stmt.field}`", "bad-policy")
        for kind in kinds:
            self.check_value(file, stmt, stmt.field, kind)

    def check_prune(self, stmt: ast.Prune) -> None:
        self.check_selector(stmt.file, stmt.selector)
        if stmt.exclude is not None:
            self.check_selector(stmt.file, stmt.exclude)
        for name, expr in (("ratio", stmt.ratio), ("min", stmt.min)):
            if expr is None:
                continue
            for ref in param_refs(expr):
                self.check_param_ref(stmt.file, ref)
            if not is_constant(expr):
                continue
            try:
                value = evaluate(expr)
            except EvalError as exc:
                self.error(stmt.file, expr, str(exc), "bad-value")
                continue
            problem = prune_option_problem(name, value)
            if problem:
                self.error(stmt.file, expr, problem, "bad-value")

    def _no_field_message(self, class_name: str, field: str, value: str = "NEW") -> str:
        if field == "activation" and class_name in NONLINEAR_LAYERS:
            return (
                f"`{class_name}` is a nonlinearity of its own and has no `activation` field; "
                f"write `replace {class_name} with Activation({value})` instead"
            )
        fields = set()
        for sub in self.cat.subclasses(class_name):
            fields |= set(sub.fields)
        hint = self.cat.suggest(field, fields)
        if hint:
            return f"`{class_name}` has no field `{field}`; did you mean `{hint}`?"
        return f"`{class_name}` has no field `{field}`; its fields: {', '.join(sorted(fields))}"

    def check_value(self, file: str, stmt: ast.SetField, field: str, kind: str) -> None:
        candidates: list[tuple[ast.Node, Any]] = []
        if is_constant(stmt.value):
            try:
                candidates.append((stmt.value, evaluate(stmt.value)))
            except EvalError as exc:
                self.error(file, stmt.value, str(exc), "bad-value")
                return
        elif isinstance(stmt.value, ast.ParamRef) and stmt.value.name in self.params:
            param = self.params[stmt.value.name]
            for expr in [param.default] + (param.space.values if isinstance(param.space, ast.Choice) else []):
                if is_constant(expr):
                    with contextlib.suppress(EvalError):  # reported once, on the param
                        candidates.append((stmt.value, evaluate(expr)))
        for node, value in candidates:
            problem = value_problem(kind, value, self.cat)
            if problem:
                self.error(file, node, f"`{field} := {value!r}`: {problem}", "bad-value")


def _call_refs(call: ast.Call) -> list[ast.FieldRef]:
    return [r for e in [*call.args, *(v for _, v in call.kwargs)] for r in field_refs(e)]


def _field_refs(stmt: ast.AnyStatement) -> list[ast.FieldRef]:
    if isinstance(stmt, ast.SetField):
        return field_refs(stmt.value)
    if isinstance(stmt, (ast.Insert, ast.Wrap)):
        return _call_refs(stmt.call)
    return []


def prune_option_problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be `prune`'s ratio= or min=; None when it can."""
    if name == "ratio" and not (is_number(value) and 0 <= value < 1):
        return f"`prune ... ratio={value!r}`: the share of channels to remove is a number from 0 up to (not including) 1, e.g. 0.3"
    if name == "min" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return f"`prune ... min={value!r}`: the fewest channels a group keeps is a whole number of at least 1"
    return None


QUANTIZED_POLICY_PREFIXES = ("int8", "int4", "float8", "gptq", "awq")
"""How Keras's quantized dtype policies are named: `int8_from_float32`, `int4_from_mixed_bfloat16`, ..."""


def value_problem(kind: str, value: Any, cat: Catalog) -> str | None:
    """Why `value` cannot be a value of a field of this kind; None when it can."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "positive_int" and not (is_int and value > 0):
        return "expected a whole number greater than 0"
    if kind == "int" and not is_int:
        return "expected a whole number"
    if kind == "number" and not is_num:
        return "expected a number"
    if kind == "unit_float" and not (is_num and 0 <= value < 1):
        return "expected a number from 0 up to (not including) 1"
    if kind == "bool" and not isinstance(value, bool):
        return "expected true or false"
    if kind == "str" and not isinstance(value, str):
        return "expected a string"
    if kind == "padding" and value not in ("valid", "same", "causal"):
        return 'expected "valid", "same" or "causal"'
    if kind == "int_or_tuple":
        items = value if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in items):
            return "expected a positive whole number or a tuple of them, e.g. (3, 3)"
    if kind == "dtype" and isinstance(value, str) and value.split("_")[0] in QUANTIZED_POLICY_PREFIXES:
        mode = value.split("_")[0]
        start = f"`{value}` is a quantized dtype policy: set as a field, the layer would start with random integer weights and scales"
        if mode not in ast.QUANTIZE_MODES:
            return (
                f"{start}; `{mode}` calibrates on sample data, so run Keras's `model.quantize(\"{mode}\", config=...)` in "
                f"Python, or quantize by rule with `quantize SELECTOR MODE` ({', '.join(ast.QUANTIZE_MODES)})"
            )
        return f"{start} instead of its trained kernel quantized; write `quantize SELECTOR {mode}`, which quantizes the trained weights as Keras's `layer.quantize()` does"
    if kind == "activation":
        if value is None:
            return None
        if not isinstance(value, str):
            return "expected an activation name, e.g. relu, gelu, tanh"
        if not cat.is_activation(value):
            hint = cat.suggest(value, cat.activations)
            extra = f"did you mean `{hint}`?" if hint else f"known: {', '.join(cat.activations)}"
            return f"unknown activation `{value}`; {extra}"
    return None


def check_params(params: list[ast.Param], cat: Catalog | None = None) -> list[Diagnostic]:
    """Defaults must evaluate to constants and lie in their declared space."""
    found: list[Diagnostic] = []
    for p in params:
        exprs = [p.default]
        if isinstance(p.space, ast.Choice):
            exprs += p.space.values
        elif isinstance(p.space, ast.Range):
            exprs += [p.space.low, p.space.high] + ([p.space.step] if p.space.step else [])
        for expr in exprs:
            if not is_constant(expr):
                found.append(Diagnostic(p.file, expr.line, expr.column, f"param `{p.name}`: values must be constants, not `{ast.expr_text(expr)}`", code="bad-param"))
        if any(not is_constant(e) for e in exprs):
            continue
        try:
            for expr in exprs:
                evaluate(expr)
        except EvalError as exc:
            found.append(Diagnostic(p.file, p.line, p.column, f"param `{p.name}`: {exc}", code="bad-param"))
            continue
        default = evaluate(p.default)
        if isinstance(p.space, ast.Range) and not all(is_number(evaluate(v)) for v in (p.space.low, p.space.high)):
            found.append(Diagnostic(p.file, p.line, p.column, f"param `{p.name}`: range bounds and default must be numbers", code="bad-param"))
            continue
        if isinstance(p.space, ast.Range):
            low, high = evaluate(p.space.low), evaluate(p.space.high)
            step = evaluate(p.space.step) if p.space.step is not None else None
            if step is not None and (not is_number(step) or step <= 0):
                found.append(Diagnostic(p.file, p.line, p.column, f"param `{p.name}`: a range's step must be a number above 0, not {step!r}", code="bad-param"))
                continue
            if low > high:
                found.append(Diagnostic(p.file, p.line, p.column, f"param `{p.name}`: range({low}, {high}) is empty: the low bound comes first", code="bad-param"))
                continue
        outside = outside_space(p, default)
        if outside:
            found.append(Diagnostic(p.file, p.line, p.column, f"param `{p.name}`: default {default!r} {outside}", code="bad-param"))
    return found


def _as_tuples(value: Any) -> Any:
    """Lists as tuples, all the way down: `[3, 3]` given in Python is the choice `(3, 3)`."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def outside_space(p: ast.Param, value: Any) -> str | None:
    """Why `value` lies outside `p`'s declared space (its choices or range), or None if
    it lies inside or `p` declares no space."""
    if isinstance(p.space, ast.Choice):
        choices = [evaluate(v) for v in p.space.values]
        return None if _as_tuples(value) in [_as_tuples(c) for c in choices] else f"is not one of its choices {choices!r}"
    if isinstance(p.space, ast.Range):
        low, high = evaluate(p.space.low), evaluate(p.space.high)
        if not is_number(value):
            return f"is not a number, and its space is range({low!r}, {high!r})"
        slack = 1e-12 * max(1.0, abs(low), abs(high))  # a grid point's rounding
        return None if low - slack <= value <= high + slack else f"is outside range({low!r}, {high!r})"
    return None
