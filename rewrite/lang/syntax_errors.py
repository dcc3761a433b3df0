"""Syntax errors a person can act on: the offending line with a caret, and labels for common mistakes."""

from __future__ import annotations

from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from rewrite.errors import caret
from rewrite.lang.grammar import normalized, parser


def context_lines(lines: list[str], line: int, column: int) -> str:
    if not 1 <= line <= len(lines):
        return ""
    return caret(lines[line - 1], column)


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
    "`quantize` without a mode": (
        "`quantize` takes a selector and then a mode: `quantize SELECTOR int8` (or int4, float8)",
        [
            "quantize Dense\n",
            'quantize Dense[name = "fc"]\n',
            "quantize (Dense | EinsumDense)\n",
        ],
    ),
    "`quantize ... to MODE`": (
        "write the mode right after the selector, without `to`: `quantize SELECTOR int8`",
        [
            "quantize Dense to int8\n",
            'quantize Dense[name = "fc"] to int4\n',
        ],
    ),
    "`prune` without `by CRITERION`": (
        "`prune` takes a selector, `by` and a criterion, then ratio=: `prune SELECTOR by l1 ratio=0.3` (or l2, bn, random)",
        [
            "prune Conv2D ratio=0.3\n",
            "prune * l1 ratio=0.3\n",
            "prune Conv2D by ratio=0.3\n",
        ],
    ),
}


def label_for(exc: UnexpectedInput, text: str, file: str) -> tuple[str, str] | None:
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
        label = exc.match_examples(lambda t: parser().parse(normalized(t)), examples, use_accepts=True)
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


def describe(exc: UnexpectedInput, text: str) -> str:
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
