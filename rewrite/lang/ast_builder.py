"""Lark parse trees -> the pydantic AST of `rewrite.lang.ast` (one Transformer, nothing else)."""

from __future__ import annotations

import ast as pyast
import difflib
import re
from typing import Any, TypedDict

from lark import Token, Transformer, v_args

from rewrite.errors import RuleSyntaxError
from rewrite.lang import ast
from rewrite.lang.syntax_errors import context_lines


def _unquote(token: str) -> str:
    # Strings use Python escapes; literal_eval only ever sees a quoted literal here.
    # Most strings have no escape at all: their text is the value.
    if "\\" not in token and "\x00" not in token:
        return token[1:-1]
    return str(pyast.literal_eval(token))


_INT = re.compile(r"\d+")


def _lit(token: Any) -> Any:
    """A token's text for a Literal-typed field; pydantic validates the value."""
    return str(token)


def _number(text: str) -> int | float:
    text = text.replace("_", "")  # 12_000_000
    if _INT.fullmatch(text):
        return int(text)
    return float(text)


def _quantize_mode_problem(mode: str) -> str:
    modes = ", ".join(ast.QUANTIZE_MODES)
    if mode in ("gptq", "awq"):
        return (
            f"`{mode}` quantization calibrates on sample data, which a rule file cannot hold: run Keras's "
            f"`model.quantize(\"{mode}\", config=...)` in Python, or quantize by rule with one of {modes}"
        )
    close = difflib.get_close_matches(mode.lower(), ast.QUANTIZE_MODES, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown quantization mode `{mode}`: `quantize SELECTOR MODE` takes one of {modes}{hint}"


def _criterion_problem(name: str | None) -> str:
    criteria = ", ".join(ast.PRUNE_CRITERIA)
    if name is None:
        return f"`using weights=prune` needs a criterion that ranks the channels: prune({criteria.replace(', ', ') | prune(')})"
    close = difflib.get_close_matches(name.lower(), ast.PRUNE_CRITERIA, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown pruning criterion `{name}`: use one of {criteria}{hint}"


def _using(items: Any) -> dict[str, Any]:
    """The fields a `using weights=...` clause gives (policy, and a criterion for prune)."""
    return dict(pair for item in items for pair in item)


class Pos(TypedDict):
    line: int
    column: int


@v_args(meta=True)
class ToAst(Transformer):
    """Builds the pydantic AST from Lark's parse tree and does nothing else."""

    def __init__(self, file: str, text: str):
        super().__init__()
        self.file = file
        self.lines = text.splitlines()

    def _pos(self, meta: Any) -> Pos:
        if getattr(meta, "empty", True):
            return {"line": 0, "column": 0}
        return {"line": meta.line, "column": meta.column}

    def _error(self, at: Any, message: str, label: str) -> RuleSyntaxError:
        """A syntax error at `at` (a token or a node's meta): the line, a caret, a label."""
        line, column = getattr(at, "line", 1) or 1, getattr(at, "column", 1) or 1
        return RuleSyntaxError(message, self.file, line, column, context_lines(self.lines, line, column), label=label)

    def _string(self, token: Any) -> str:
        try:
            return _unquote(token)
        except (SyntaxError, ValueError) as exc:
            reason = exc.msg if isinstance(exc, SyntaxError) else exc
            raise self._error(
                token, f"this string cannot be read ({reason}); remove control characters and check its backslash escapes", "bad string"
            ) from None

    def _source(self, meta: Any) -> str:
        if getattr(meta, "empty", True):
            return ""
        if meta.line == meta.end_line:
            return self.lines[meta.line - 1][meta.column - 1 : meta.end_column - 1].strip()
        return " ".join(text.strip() for text in self.lines[meta.line - 1 : meta.end_line])

    # expressions
    def number(self, meta, c):
        return ast.Number(value=_number(c[0]), **self._pos(meta))

    def string(self, meta, c):
        return ast.String(value=self._string(c[0]), **self._pos(meta))

    def true(self, meta, c):
        return ast.Bool(value=True, **self._pos(meta))

    def false(self, meta, c):
        return ast.Bool(value=False, **self._pos(meta))

    def none(self, meta, c):
        return ast.NoneValue(**self._pos(meta))

    def bare_name(self, meta, c):
        return ast.BareName(name=str(c[0]), **self._pos(meta))

    def field_ref(self, meta, c):
        return ast.FieldRef(name=str(c[0]), **self._pos(meta))

    def capture_field_ref(self, meta, c):
        return ast.FieldRef(name=str(c[1]), capture=str(c[0]), **self._pos(meta))

    def param_ref(self, meta, c):
        return ast.ParamRef(name=str(c[0]), **self._pos(meta))

    def _binop(op: str):  # type: ignore[misc]
        def build(self, meta, c):
            return ast.BinOp(op=_lit(op), left=c[0], right=c[1], **self._pos(meta))

        return build

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    floordiv = _binop("//")

    def neg(self, meta, c):
        return ast.Neg(operand=c[0], **self._pos(meta))

    def tuple(self, meta, c):
        return ast.TupleValue(items=list(c), **self._pos(meta))

    def list(self, meta, c):
        return ast.ListValue(items=list(c), **self._pos(meta))

    # selectors
    def class_sel(self, meta, c):
        return ("classes", [str(c[0])])

    def any_sel(self, meta, c):
        return ("classes", [])

    def alt_sel(self, meta, c):
        return ("alternatives", list(c))

    def predicates(self, meta, c):
        return ("predicates", list(c))

    def selector(self, meta, c):
        fields: dict[str, Any] = dict(c)
        return ast.Selector(**fields, **self._pos(meta))

    def compare(self, meta, c):
        return ast.Compare(field=str(c[0]), op=_lit(c[1]), value=c[2], **self._pos(meta))

    def text_match(self, meta, c):
        return ast.TextMatch(field=str(c[0]), negated=str(c[1]) == "!~", pattern=c[2], **self._pos(meta))

    def member(self, meta, c):
        return ast.Member(field=str(c[0]), values=c[1], **self._pos(meta))

    def not_member(self, meta, c):
        return ast.Member(field=str(c[0]), values=c[1], negated=True, **self._pos(meta))

    def glob(self, meta, c):
        return ast.Glob(pattern=self._string(c[0]), **self._pos(meta))

    def regex(self, meta, c):
        text = str(c[0])
        end = text.rindex("/")
        pattern, flags = text[1:end], text[end + 1 :]
        try:
            re.compile(pattern)
        except re.error as exc:
            message = f"invalid regular expression /{pattern}/: {exc}. Fix the pattern, or use a glob string instead"
            raise self._error(meta, message, "invalid regular expression") from None
        return ast.Regex(pattern=pattern, flags=flags, **self._pos(meta))

    # statements
    def using(self, meta, c):
        policy = str(c[0])
        if policy not in ast.WEIGHT_POLICIES:
            message = f"unknown weight policy `{policy}`; use one of {', '.join(ast.WEIGHT_POLICIES)}"
            raise self._error(c[0], message, "unknown weight policy")
        if policy == "prune":
            if len(c) < 2:
                raise self._error(c[0], _criterion_problem(None), "prune without a criterion")
            return ("policy", policy), ("criterion", self._criterion(c[1]))
        if len(c) > 1:
            raise self._error(c[1], f"`using weights={policy}` takes no argument; only `prune(CRITERION)` does", "policy argument")
        return (("policy", policy),)

    def _criterion(self, token: Any) -> str:
        name = str(token)
        if name not in ast.PRUNE_CRITERIA:
            raise self._error(token, _criterion_problem(name), "unknown prune criterion")
        return name

    def set_field(self, meta, c):
        extra = _using(c[3:])
        return ast.SetField(
            selector=c[0],
            field=str(c[1]),
            value=c[2],
            source=self._source(meta),
            file=self.file,
            **extra,
            **self._pos(meta),
        )

    def _statement(self, meta: Any, cls: type, **fields: Any) -> Any:
        return cls(source=self._source(meta), file=self.file, **fields, **self._pos(meta))

    def delete(self, meta, c):
        return self._statement(meta, ast.Delete, selector=c[0])

    def quantize(self, meta, c):
        mode = str(c[1])
        if mode not in ast.QUANTIZE_MODES:
            raise self._error(c[1], _quantize_mode_problem(mode), "unknown quantize mode")
        return self._statement(meta, ast.Quantize, selector=c[0], mode=mode)

    def prune(self, meta, c):
        options: dict[str, Any] = {}
        exclude = None
        for item in c[2:]:
            if isinstance(item, ast.Selector):
                exclude = item
                continue
            key, value = item
            if key not in ("ratio", "min") or key in options:
                raise self._error(meta, f"`prune` takes ratio=NUMBER and optionally min=NUMBER; got `{key}=` {'twice' if key in options else ''}".strip(), "prune option")
            options[key] = value
        if "ratio" not in options:
            raise self._error(meta, "`prune SELECTOR by CRITERION` needs `ratio=R`, the share of channels to remove (e.g. ratio=0.3)", "prune without ratio")
        return self._statement(meta, ast.Prune, selector=c[0], criterion=self._criterion(c[1]), exclude=exclude, **options)

    def prune_except(self, meta, c):
        return c[0]

    def insert(self, meta, c):
        extra = _using(c[3:])
        return self._statement(meta, ast.Insert, call=c[0], where=_lit(c[1]), selector=c[2], **extra)

    def replace(self, meta, c):
        extra = _using(c[2:])
        return self._statement(meta, ast.Replace, chain=c[0], call=c[1], **extra)

    def wrap(self, meta, c):
        extra = _using(c[2:])
        return self._statement(meta, ast.Wrap, selector=c[0], call=c[1], **extra)

    def chain(self, meta, c):
        names = [cap.name for cap in c if cap.name]
        if len(names) != len(set(names)):
            raise self._error(meta, "a capture name is used twice in one chain; give each link its own name", "duplicate capture")
        return list(c)

    def capture(self, meta, c):
        if len(c) == 2:
            return ast.Capture(name=str(c[0]), selector=c[1], **self._pos(meta))
        return ast.Capture(selector=c[0], **self._pos(meta))

    def call(self, meta, c):
        args = [a for kind, a in c[1:] if kind == "pos"]
        kwargs = [a for kind, a in c[1:] if kind == "kw"]
        seen = [k for k, _ in kwargs]
        if len(seen) != len(set(seen)):
            raise self._error(meta, f"`{c[0]}(...)` names an argument twice", "duplicate argument")
        order = [kind for kind, _ in c[1:]]
        if "kw" in order and "pos" in order[order.index("kw") :]:
            raise self._error(meta, f"`{c[0]}(...)`: positional arguments come before keyword arguments", "positional after keyword")
        return ast.Call(name=str(c[0]), args=args, kwargs=kwargs, **self._pos(meta))

    def pos_arg(self, meta, c):
        return ("pos", c[0])

    def kw_arg(self, meta, c):
        return ("kw", (str(c[0]), c[1]))

    def option(self, meta, c):
        return (str(c[0]), c[1])

    def expect_matches(self, meta, c):
        return ast.ExpectMatches(op=_lit(c[0]), count=int(_number(str(c[1]))), **self._pos(meta))

    def expect_outputs(self, meta, c):
        options: dict[str, Any] = {}
        for key, value in c[1:]:
            if key not in ("atol", "rtol") or not isinstance(value, ast.Number):
                raise self._error(meta, f"unknown option `{key}` for `expect outputs`; use atol=NUMBER or rtol=NUMBER", "unknown expect option")
            options[key] = float(value.value)
        return ast.ExpectOutputs(outcome=_lit(c[0]), **options, **self._pos(meta))

    def expect_cost(self, meta, c):
        return ast.ExpectCost(measure=_lit(c[0]), op=_lit(c[1]), value=int(_number(str(c[2]))), **self._pos(meta))

    def space_choice(self, meta, c):
        return ast.Choice(values=c[0].items, **self._pos(meta))

    def range_step(self, meta, c):
        return ("step", c[0])

    def space_range(self, meta, c):
        step = c[2][1] if len(c) > 2 else None
        return ast.Range(low=c[0], high=c[1], step=step, **self._pos(meta))

    def param(self, meta, c):
        return ast.Param(
            name=str(c[0]),
            default=c[1],
            space=c[2] if len(c) > 2 else None,
            file=self.file,
            **self._pos(meta),
        )

    def use(self, meta, c):
        return ast.Use(path=self._string(c[0]), **self._pos(meta))

    def rule(self, meta, c):
        rule_id = str(c[0])
        rest = list(c[1:])
        description = None
        if rest and isinstance(rest[0], Token):
            description = self._string(rest.pop(0))
        statements = [i for i in rest if ast.is_statement(i)]
        expects = [i for i in rest if isinstance(i, (ast.ExpectMatches, ast.ExpectOutputs, ast.ExpectCost))]
        return ast.Rule(
            id=rule_id,
            description=description,
            statements=statements,
            expects=expects,
            file=self.file,
            **self._pos(meta),
        )

    def start(self, meta, c):
        return ast.RuleFile(
            path=self.file,
            uses=[i for i in c if isinstance(i, ast.Use)],
            params=[i for i in c if isinstance(i, ast.Param)],
            body=[i for i in c if isinstance(i, ast.Rule) or ast.is_statement(i)],
        )
