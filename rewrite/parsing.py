"""Rule text -> AST. The Lark grammar lives in grammar/rules.lark (package data).

`parse(text, file)` returns a :class:`rewrite.ast.RuleFile` or raises
:class:`rewrite.errors.RuleSyntaxError` with file:line:col, the offending line with
a caret, and, for common mistakes, a label that says what to write instead.
"""

from __future__ import annotations

import ast as pyast
import functools
import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypedDict

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from rewrite import ast
from rewrite._lalr import Driver
from rewrite.errors import RuleSyntaxError

GRAMMAR_FILE = "rules.lark"


def grammar_text() -> str:
    """The grammar, read from the installed package data or from the source checkout."""
    try:
        return resources.files("rewrite.grammar").joinpath(GRAMMAR_FILE).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        here = Path(__file__).resolve().parent.parent / "grammar" / GRAMMAR_FILE
        return here.read_text("utf-8")


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


@functools.lru_cache(maxsize=1)
def _driver() -> Driver | None:
    """The fast driver over the parser's tables (None: Lark's loop only)."""
    return Driver.of(parser(), ToAst)


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
    if _INT.fullmatch(text):
        return int(text)
    return float(text)


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

    def _string(self, token: Any) -> str:
        try:
            return _unquote(token)
        except (SyntaxError, ValueError) as exc:
            line, column = getattr(token, "line", 1) or 1, getattr(token, "column", 1) or 1
            raise RuleSyntaxError(
                f"this string cannot be read ({exc.msg if isinstance(exc, SyntaxError) else exc}); remove control characters "
                "and check its backslash escapes",
                self.file, line, column, _context(self.lines, line, column), label="bad string",
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
            raise RuleSyntaxError(
                f"invalid regular expression /{pattern}/: {exc}. Fix the pattern, or use a glob string instead",
                self.file,
                meta.line,
                meta.column,
                _context(self.lines, meta.line, meta.column),
                label="invalid regular expression",
            ) from None
        return ast.Regex(pattern=pattern, flags=flags, **self._pos(meta))

    # statements
    def using(self, meta, c):
        policy = str(c[0])
        if policy not in ("keep", "reinit", "slice", "widen", "identity"):
            raise RuleSyntaxError(
                f"unknown weight policy `{policy}`; use one of keep, reinit, slice, widen, identity",
                self.file,
                c[0].line,
                c[0].column,
                _context(self.lines, c[0].line, c[0].column),
                label="unknown weight policy",
            )
        return ("policy", policy)

    def set_field(self, meta, c):
        extra = dict(c[3:]) if len(c) > 3 else {}
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

    def insert(self, meta, c):
        extra = dict(c[3:])
        return self._statement(meta, ast.Insert, call=c[0], where=_lit(c[1]), selector=c[2], **extra)

    def replace(self, meta, c):
        extra = dict(c[2:])
        return self._statement(meta, ast.Replace, chain=c[0], call=c[1], **extra)

    def wrap(self, meta, c):
        extra = dict(c[2:])
        return self._statement(meta, ast.Wrap, selector=c[0], call=c[1], **extra)

    def chain(self, meta, c):
        names = [cap.name for cap in c if cap.name]
        if len(names) != len(set(names)):
            raise RuleSyntaxError(
                "a capture name is used twice in one chain; give each link its own name",
                self.file, meta.line, meta.column, _context(self.lines, meta.line, meta.column),
                label="duplicate capture",
            )
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
            raise RuleSyntaxError(
                f"`{c[0]}(...)` names an argument twice", self.file, meta.line, meta.column,
                _context(self.lines, meta.line, meta.column), label="duplicate argument",
            )
        order = [kind for kind, _ in c[1:]]
        if "kw" in order and "pos" in order[order.index("kw") :]:
            raise RuleSyntaxError(
                f"`{c[0]}(...)`: positional arguments come before keyword arguments",
                self.file, meta.line, meta.column, _context(self.lines, meta.line, meta.column),
                label="positional after keyword",
            )
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
                raise RuleSyntaxError(
                    f"unknown option `{key}` for `expect outputs`; use atol=NUMBER or rtol=NUMBER",
                    self.file,
                    meta.line,
                    meta.column,
                    _context(self.lines, meta.line, meta.column),
                    label="unknown expect option",
                )
            options[key] = float(value.value)
        return ast.ExpectOutputs(outcome=_lit(c[0]), **options, **self._pos(meta))

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
        statements = [i for i in rest if isinstance(i, (ast.SetField, ast.Delete, ast.Insert, ast.Replace, ast.Wrap))]
        expects = [i for i in rest if isinstance(i, (ast.ExpectMatches, ast.ExpectOutputs))]
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
            body=[i for i in c if isinstance(i, (ast.Rule, ast.SetField, ast.Delete, ast.Insert, ast.Replace, ast.Wrap))],
        )


# ------------------------------------------------------------------- errors


def _context(lines: list[str], line: int, column: int) -> str:
    if not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1].expandtabs(1)
    return f"    {text}\n    {' ' * (column - 1)}^"


# Common mistakes: a friendly label, what to do, and example inputs that make Lark
# fail the same way (lark's `match_examples`). Each entry is tested.
COMMON_MISTAKES: dict[str, tuple[str, list[str]]] = {
    "missing `]`": (
        "a `[` predicate list is not closed; add `]` after the last predicate",
        [
            'Dense[name ~ "fc*".activation := tanh',
            "Dense[units > 3.units := 4",
            "Dense[units > 3, name = a.units := 4",
            'Dense[name = "a"\n',
            "Dense[units > 3",
        ],
    ),
    "`=` instead of `:=`": (
        "a field is set with `:=`; write `SELECTOR.FIELD := VALUE`",
        [
            "Dense.activation = tanh",
            'Dense[name ~ "fc*"].activation = tanh',
            "*.trainable = false",
        ],
    ),
    "`==` is not an operator": (
        "compare with a single `=` inside `[...]`, e.g. `Dense[units = 64]`",
        [
            "Dense[units == 64].units := 3",
            'Dense[name == "a"].units := 3',
        ],
    ),
    "unknown operator": (
        "predicates use = != < <= > >= ~ !~ in; values use + - * / //",
        [
            "Dense[units <> 64].units := 3",
            "Dense[units =~ 64].units := 3",
            "Dense[units ! 64].units := 3",
            "Dense.units := @units ** 2",
            "Dense.units := @units % 2",
            "Dense[units => 3].units := 2",
            "Dense[units =< 3].units := 2",
            "Dense[units ~= 3].units := 2",
        ],
    ),
    "missing field after `.`": (
        "name the field to set after the selector, e.g. `Dense.activation := tanh`",
        [
            "Dense. := tanh",
            "Dense := tanh",
            'Dense[name = "a"] := tanh',
        ],
    ),
    "missing value after `:=`": (
        "give the new value after `:=`, e.g. `Dense.activation := tanh`",
        [
            "Dense.activation :=",
            "Dense.activation := \n",
        ],
    ),
    "unclosed rule block": (
        "a `rule ID { ... }` block is not closed; add `}` after its last statement",
        [
            "rule a {\n Dense.units := 3\n",
            'rule a "d" {\n',
        ],
    ),
}


def _label_for(exc: UnexpectedInput, text: str, file: str) -> tuple[str, str] | None:
    pos = exc.pos_in_stream or 0
    # Unterminated strings never reach the parser: the lexer stops at the quote.
    if isinstance(exc, UnexpectedCharacters) and text[pos : pos + 1] in "\"'":
        return (
            "unterminated string",
            "a string is opened but not closed on the same line; add the closing quote",
        )
    if isinstance(exc, UnexpectedCharacters) and text[pos : pos + 1] == "/":
        return (
            "unterminated regular expression",
            "a `/regex/` is opened but not closed on the same line; add the closing `/`",
        )
    if isinstance(exc, UnexpectedToken) and str(exc.token) == "/" and "REGEX" in exc.expected:
        return (
            "unterminated regular expression",
            "a `/regex/` is opened but not closed on the same line; add the closing `/`",
        )
    if isinstance(exc, UnexpectedToken) and str(exc.token) == "expect":
        expected = _pretty_expected(exc.expected)
        if "`rule`" in expected and "`}`" not in expected:  # at the top level, not inside a block
            return "`expect` outside a rule block", (
                "`expect` belongs inside a `rule NAME { ... }` block, after the statements it checks"
            )
    if (
        isinstance(exc, UnexpectedToken)
        and str(exc.token) == "="
        and any(parser().get_terminal(t).pattern.value == ":=" for t in exc.expected if _is_literal(t))
    ):
        return "`=` instead of `:=`", COMMON_MISTAKES["`=` instead of `:=`"][0]
    # The parser state at an error also depends on what came before the statement,
    # so each example is tried at the start of a file and after other lines.
    examples = {
        label: [prefix + e for e in ex for prefix in ("", "\n", "Dense.units := 1\n", "rule r {\n")]
        for label, (_, ex) in COMMON_MISTAKES.items()
    }
    try:
        label = exc.match_examples(lambda t: parser().parse(_normalize(t)), examples, use_accepts=True)
    except Exception:  # match_examples re-parses; a failure there only loses the label
        label = None
    if label:
        return label, COMMON_MISTAKES[label][0]
    return None


def _is_literal(terminal: str) -> bool:
    try:
        return parser().get_terminal(terminal).pattern.type == "str"
    except KeyError:
        return False


def _normalize(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _describe(exc: UnexpectedInput, text: str) -> str:
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return "unexpected end of input"
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        what = "end of line" if tok.type == "_NL" else f"`{tok}`"
        expected = sorted(_pretty_expected(exc.expected))
        return f"unexpected {what}; expected one of: {', '.join(expected[:12])}"
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos : pos + 2].strip() or "?"
        return f"unexpected character `{ch[0]}`"
    return str(exc)


_TERMINAL_NAMES = {
    "NAME": "a name",
    "RULE_ID": "a rule id",
    "NUMBER": "a number",
    "STRING": "a string",
    "REGEX": "a /regex/",
    "CMP_OP": "a comparison (= != < <= > >=)",
    "MATCH_OP": "`~` or `!~`",
    "_NL": "end of line",
    "OUTCOME": "`equal` or `changed`",
}


def _pretty_expected(expected: set[str]) -> set[str]:
    names = parser().get_terminal
    out = set()
    for term in expected:
        if term in _TERMINAL_NAMES:
            out.add(_TERMINAL_NAMES[term])
            continue
        try:
            pattern = names(term).pattern
            out.add(f"`{pattern.value}`" if pattern.type == "str" else term)
        except KeyError:
            out.add(term)
    return out


MAX_CHARS = 2_000_000
MAX_DEPTH = 100


def _too_deep(tree: Any) -> Any:
    """The first node nested deeper than MAX_DEPTH, found without recursion; or None."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        stack.extend((child, depth + 1) for child in getattr(node, "children", ()) if hasattr(child, "children"))
    return None


@contextmanager
def paused_collection() -> Iterator[None]:
    """Python's cyclic garbage collector off while rule text is parsed and checked.

    A parse makes hundreds of thousands of objects and keeps nearly all of them
    (the syntax tree), so every automatic collection on the way walks the whole
    growing tree again: about a third of the time of a 10,000-statement file.
    Reference counting still frees what dies; the collector runs as usual after.
    It is left as it was found (a caller that turned it off keeps it off).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse(text: str, file: str = "<string>", fast: bool = True) -> ast.RuleFile:
    """Parse rule text into its syntax tree (`rewrite.ast.RuleFile`), without checking it.

    `fast=False` uses Lark's own loop and parse tree only (the fast driver in
    rewrite._lalr builds the same AST in one pass; the tests compare the two).

    Raises:
        RuleSyntaxError: With file:line:col, the offending line and a caret.

    Examples:
        >>> rewrite.parse('Dense.activation := tanh').body[0].field
        'activation'
    """
    with paused_collection():
        return _parse(text, file, fast)


def _parse(text: str, file: str, fast: bool) -> ast.RuleFile:
    if len(text) > MAX_CHARS:
        raise RuleSyntaxError(
            f"rule text of {len(text):,} characters is over the limit of {MAX_CHARS:,}; split it into files joined with `use`",
            file, 1, 1, "", label="too long",
        )
    source = _normalize(text)
    driver = _driver() if fast else None
    if driver is not None:
        # One pass over valid text; anything else is parsed again below, where Lark reports it.
        parsed = driver.run(source, ToAst(file, source), MAX_DEPTH)
        if isinstance(parsed, ast.RuleFile):
            return parsed
    try:
        tree = parser().parse(source)
    except UnexpectedInput as exc:
        labelled = _label_for(exc, source, file)
        message = _describe(exc, source)
        label = None
        if labelled:
            label, advice = labelled
            message = f"{label}: {advice} ({message})"
        line, column = max(exc.line, 1), max(exc.column, 1)
        if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
            lines = source.splitlines()
            line, column = len(lines), len(lines[-1]) + 1 if lines else 1
        raise RuleSyntaxError(message, file, line, column, _context(source.splitlines(), line, column), label) from None
    deep = _too_deep(tree)
    if deep is not None:
        line, column = getattr(deep.meta, "line", 1), getattr(deep.meta, "column", 1)
        raise RuleSyntaxError(
            f"nested more than {MAX_DEPTH} levels deep; write the expression more simply",
            file, line, column, _context(source.splitlines(), line, column), label="too deep",
        )
    try:
        return ToAst(file, source).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, RuleSyntaxError):
            raise exc.orig_exc from None
        raise
