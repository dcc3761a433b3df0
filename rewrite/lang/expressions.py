"""Evaluating rule expressions and comparing values, in plain Python (no Keras)."""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Callable, Mapping
from typing import Any

import regex

from rewrite.errors import PlanError
from rewrite.lang import ast
from rewrite.lang.catalog import canonical_activation

ACTIVATION_FIELDS = {"activation", "recurrent_activation"}
REGEX_SECONDS = 0.25
"""How long one regular expression may take against one value."""


class EvalError(Exception):
    """An expression could not be evaluated; the message says why."""


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
}


def evaluate(
    expr: ast.Expr,
    params: Mapping[str, Any] | None = None,
    field: Callable[[str], Any] | None = None,
) -> Any:
    """The Python value of an expression. `field(name)` reads `@name` of the matched layer.

    >>> from rewrite.parsing import parse
    >>> stmt = parse("Dense.units := @units * 2 + $extra").body[0]
    >>> evaluate(stmt.value, {"extra": 1}, {"units": 8}.__getitem__)
    17
    """
    if isinstance(expr, (ast.Number, ast.String, ast.Bool)):
        return expr.value
    if isinstance(expr, ast.NoneValue):
        return None
    if isinstance(expr, ast.BareName):
        return expr.name
    if isinstance(expr, ast.ParamRef):
        if params is None or expr.name not in params:
            raise EvalError(f"parameter `${expr.name}` has no value; declare it with `param {expr.name} = ...`")
        return params[expr.name]
    if isinstance(expr, ast.FieldRef):
        if field is None:
            raise EvalError(f"`@{expr.name}` needs a matched layer")
        return field(f"{expr.capture}.{expr.name}" if expr.capture else expr.name)
    if isinstance(expr, ast.Neg):
        value = evaluate(expr.operand, params, field)
        if not is_number(value):
            raise EvalError(f"cannot negate {value!r}: it is not a number")
        return -value
    if isinstance(expr, ast.BinOp):
        left = evaluate(expr.left, params, field)
        right = evaluate(expr.right, params, field)
        if expr.op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right  # names: `$prefix + @name`
        if not (is_number(left) and is_number(right)):
            raise EvalError(f"`{expr.op}` needs two numbers (or, for `+`, two strings); got {left!r} and {right!r}")
        if expr.op in ("/", "//") and right == 0:
            raise EvalError("division by zero")
        return _ARITH[expr.op](left, right)
    if isinstance(expr, ast.TupleValue):
        return tuple(evaluate(i, params, field) for i in expr.items)
    if isinstance(expr, ast.ListValue):
        return [evaluate(i, params, field) for i in expr.items]
    raise EvalError(f"cannot evaluate {expr!r}")


def subexpressions(expr: ast.Expr) -> list[ast.Expr]:
    """The expression and every expression inside it, outermost first."""
    # Dispatch on `kind`: a rule file of 10,000 statements asks this of every value,
    # and isinstance() on pydantic model classes is slow.
    kind = expr.kind
    if kind == "binop":
        return [expr, *subexpressions(expr.left), *subexpressions(expr.right)]  # type: ignore[union-attr]
    if kind == "neg":
        return [expr, *subexpressions(expr.operand)]  # type: ignore[union-attr]
    if kind == "tuple" or kind == "list":
        return [expr, *(e for item in expr.items for e in subexpressions(item))]  # type: ignore[union-attr]
    return [expr]


_REFS = ("field_ref", "param_ref")


def is_constant(expr: ast.Expr) -> bool:
    """True when the expression reads no field and no parameter."""
    return not any(e.kind in _REFS for e in subexpressions(expr))


def param_refs(expr: ast.Expr) -> list[ast.ParamRef]:
    return [e for e in subexpressions(expr) if e.kind == "param_ref"]  # type: ignore[misc]


def field_refs(expr: ast.Expr) -> list[ast.FieldRef]:
    return [e for e in subexpressions(expr) if e.kind == "field_ref"]  # type: ignore[misc]


def is_number(value: Any) -> bool:
    """An int or a float, and not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def normalize(field: str, value: Any) -> Any:
    """A value in the form it is compared in: activations by canonical name, dtype policies by
    name, lists as tuples."""
    if field in ACTIVATION_FIELDS:
        return canonical_activation(value)
    if field == "dtype" and isinstance(value, dict) and isinstance(value.get("config"), dict) and "name" in value["config"]:
        return value["config"]["name"]  # a serialized dtype policy compares as its name: "mixed_bfloat16"
    if isinstance(value, list):
        return tuple(normalize(field, v) for v in value)
    return value


def equal(field: str, a: Any, b: Any) -> bool:
    a, b = normalize(field, a), normalize(field, b)
    if isinstance(a, tuple) and not isinstance(b, tuple) and len(a) and all(x == b for x in a):
        # `kernel_size = 3` matches (3, 3): Keras expands an int to a tuple.
        return True
    if isinstance(b, tuple) and not isinstance(a, tuple) and len(b) and all(x == a for x in b):
        return True
    return bool(a == b)


def compare(field: str, op: str, actual: Any, expected: Any) -> bool:
    """`actual OP expected` as a predicate means it; False where the two cannot be ordered."""
    if op == "=":
        return equal(field, actual, expected)
    if op == "!=":
        return not equal(field, actual, expected)
    a, b = normalize(field, actual), normalize(field, expected)
    try:
        return bool({"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op](a, b))
    except TypeError:
        return False


def text_match(pattern: ast.Glob | ast.Regex, value: Any) -> bool:
    text = "" if value is None else str(canonical_activation(value) if isinstance(value, dict) else value)
    if isinstance(pattern, ast.Glob):
        return fnmatch.fnmatchcase(text, pattern.pattern)
    flags = 0
    for f in pattern.flags:
        flags |= {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL}[f]
    try:
        # The `regex` engine takes a time bound: a pattern that backtracks exponentially
        # (`/^(a+)+$/` on a long name) stops instead of running for minutes.
        return regex.search(pattern.pattern, text, flags | regex.VERSION0, timeout=REGEX_SECONDS) is not None
    except TimeoutError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise PlanError(
            f"the regular expression /{pattern.pattern}/ took more than {REGEX_SECONDS} s against `{shown}`: it backtracks "
            "(nested repetition such as (a+)+); write it without nested repeats, or use a glob such as \"fc*\""
        ) from None


def member(field: str, actual: Any, values: Any) -> bool:
    if not isinstance(values, (list, tuple)):
        values = [values]
    return any(equal(field, actual, v) for v in values)


def show(value: Any) -> str:
    """A value written for people: activations and strings bare, tuples as tuples."""
    if isinstance(value, dict) and "class_name" in value:
        return str(canonical_activation(value))
    if isinstance(value, str):
        return value
    return repr(value)
