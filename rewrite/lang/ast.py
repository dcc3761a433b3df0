"""The abstract syntax tree of the rule language: one pydantic model per grammar rule.

The tree is plain data. It is built by :mod:`rewrite.parsing` and read by the
checker and the planner; nothing in here knows about Keras.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeGuard, get_args

from pydantic import BaseModel, ConfigDict, Field


class Node(BaseModel):
    """Base of every AST node: frozen, with the source position it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int = 0
    column: int = 0


# ------------------------------------------------------------------ expressions


class Number(Node):
    kind: Literal["number"] = "number"
    value: float | int


class String(Node):
    kind: Literal["string"] = "string"
    value: str


class Bool(Node):
    kind: Literal["bool"] = "bool"
    value: bool


class NoneValue(Node):
    kind: Literal["none"] = "none"


class BareName(Node):
    """A bare identifier used as a value; it stands for the string of the same text."""

    kind: Literal["bare_name"] = "bare_name"
    name: str


class FieldRef(Node):
    """`@field`: the matched layer's own value of a field; `@c.field`: of capture `c`."""

    kind: Literal["field_ref"] = "field_ref"
    name: str
    capture: str | None = None


class ParamRef(Node):
    """`$name`: the value of a declared parameter."""

    kind: Literal["param_ref"] = "param_ref"
    name: str


class BinOp(Node):
    kind: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "/", "//"]
    left: Expr
    right: Expr


class Neg(Node):
    kind: Literal["neg"] = "neg"
    operand: Expr


class TupleValue(Node):
    kind: Literal["tuple"] = "tuple"
    items: list[Expr]


class ListValue(Node):
    kind: Literal["list"] = "list"
    items: list[Expr]


Expr = Annotated[
    Number | String | Bool | NoneValue | BareName | FieldRef | ParamRef | BinOp | Neg | TupleValue | ListValue,
    Field(discriminator="kind"),
]

# ------------------------------------------------------------------- selectors

CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]


class Glob(Node):
    kind: Literal["glob"] = "glob"
    pattern: str


class Regex(Node):
    kind: Literal["regex"] = "regex"
    pattern: str
    flags: str = ""


class Compare(Node):
    """`field OP value`, e.g. `filters >= 64`."""

    kind: Literal["compare"] = "compare"
    field: str
    op: CompareOp
    value: Expr


class TextMatch(Node):
    """`field ~ "glob*"`, `field ~ /regex/` and their negations with `!~`."""

    kind: Literal["text_match"] = "text_match"
    field: str
    negated: bool = False
    pattern: Annotated[Glob | Regex, Field(discriminator="kind")]


class Member(Node):
    """`field in [a, b]` and `field not in [a, b]`."""

    kind: Literal["member"] = "member"
    field: str
    negated: bool = False
    values: Expr


Predicate = Annotated[Compare | TextMatch | Member, Field(discriminator="kind")]


class Selector(Node):
    """A layer selector: a class name, `*`, or alternatives, with optional predicates."""

    classes: list[str] = Field(default_factory=list)
    """Class names; empty means any class (`*`)."""
    alternatives: list[Selector] = Field(default_factory=list)
    predicates: list[Predicate] = Field(default_factory=list)

    def text(self) -> str:
        """The selector written back in rule syntax (for messages and reports)."""
        if self.alternatives:
            base = "(" + " | ".join(alt.text() for alt in self.alternatives) + ")"
        else:
            base = self.classes[0] if self.classes else "*"
        if self.predicates:
            base += "[" + ", ".join(_predicate_text(p) for p in self.predicates) + "]"
        return base


def _predicate_text(p: Compare | TextMatch | Member) -> str:
    if isinstance(p, Compare):
        return f"{p.field} {p.op} {expr_text(p.value)}"
    if isinstance(p, TextMatch):
        op = "!~" if p.negated else "~"
        pat = f'"{p.pattern.pattern}"' if isinstance(p.pattern, Glob) else f"/{p.pattern.pattern}/"
        return f"{p.field} {op} {pat}"
    return f"{p.field} {'not in' if p.negated else 'in'} {expr_text(p.values)}"


def expr_text(e: Expr) -> str:
    """An expression written back in rule syntax."""
    if isinstance(e, Number):
        return repr(e.value)
    if isinstance(e, String):
        return f'"{e.value}"'
    if isinstance(e, Bool):
        return "true" if e.value else "false"
    if isinstance(e, NoneValue):
        return "none"
    if isinstance(e, BareName):
        return e.name
    if isinstance(e, FieldRef):
        return f"@{e.capture}.{e.name}" if e.capture else f"@{e.name}"
    if isinstance(e, ParamRef):
        return f"${e.name}"
    if isinstance(e, BinOp):
        return f"({expr_text(e.left)} {e.op} {expr_text(e.right)})"
    if isinstance(e, Neg):
        return f"-{expr_text(e.operand)}"
    if isinstance(e, TupleValue):
        inner = ", ".join(expr_text(i) for i in e.items)
        return f"({inner},)" if len(e.items) == 1 else f"({inner})"
    return "[" + ", ".join(expr_text(i) for i in e.items) + "]"


# ------------------------------------------------------------------ statements

WeightPolicy = Literal["keep", "reinit", "slice", "widen", "identity", "prune"]
WEIGHT_POLICIES: tuple[str, ...] = get_args(WeightPolicy)
"""Every policy `using weights=...` takes, from the type itself."""

PruneCriterion = Literal["l1", "l2", "bn", "random"]
PRUNE_CRITERIA: tuple[str, ...] = get_args(PruneCriterion)
"""How pruning ranks channels: the L1 or L2 norm of each channel's weights, |BatchNormalization gamma|, or a seeded draw."""


class StatementNode(Node):
    """What every statement has: its weight policy, its own text, its file."""

    policy: WeightPolicy | None = None
    criterion: PruneCriterion | None = None
    """For `using weights=prune(CRITERION)`: how the channels kept are chosen."""
    source: str = ""
    """The statement's own text, for reports."""
    file: str = "<string>"


class SetField(StatementNode):
    """`SELECTOR.FIELD := EXPR [using weights=POLICY]`."""

    kind: Literal["set_field"] = "set_field"
    selector: Selector
    field: str
    value: Expr


class Call(Node):
    """`ClassName(arg, name=arg, ...)`: a Keras layer class or a registered transform."""

    name: str
    args: list[Expr] = Field(default_factory=list)
    kwargs: list[tuple[str, Expr]] = Field(default_factory=list)
    """Keyword arguments in source order."""

    def text(self) -> str:
        parts = [expr_text(a) for a in self.args] + [f"{k}={expr_text(v)}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"


class Capture(Node):
    """One link of a chain: `c:Conv2D` (captured as `c`) or a plain selector."""

    name: str | None = None
    selector: Selector


class Delete(StatementNode):
    """`delete SELECTOR`: the layer goes, its input flows on to its consumers."""

    kind: Literal["delete"] = "delete"
    selector: Selector


class Insert(StatementNode):
    """`insert CALL after|before SELECTOR`: a new layer beside each matched layer."""

    kind: Literal["insert"] = "insert"
    call: Call
    where: Literal["after", "before"]
    selector: Selector


class Replace(StatementNode):
    """`replace PATTERN with CALL`: a layer or a chain becomes a new layer or a transform's result."""

    kind: Literal["replace"] = "replace"
    chain: list[Capture]
    call: Call


class Wrap(StatementNode):
    """`wrap SELECTOR in CALL`, e.g. `wrap LSTM in Bidirectional`."""

    kind: Literal["wrap"] = "wrap"
    selector: Selector
    call: Call


QuantizeMode = Literal["int8", "int4", "float8"]
QUANTIZE_MODES: tuple[str, ...] = get_args(QuantizeMode)
"""The modes `quantize` takes: Keras's weight-only modes, computed from the trained weights alone."""


class Quantize(StatementNode):
    """`quantize SELECTOR MODE`: Keras's `layer.quantize(MODE)` on each matched layer's trained weights."""

    kind: Literal["quantize"] = "quantize"
    selector: Selector
    mode: QuantizeMode


class Prune(StatementNode):
    """`prune SELECTOR by CRITERION ratio=R [min=N] [except SELECTOR]`: remove the least important
    channels of every prunable channel group whose producers the selector matches."""

    kind: Literal["prune"] = "prune"
    selector: Selector
    criterion: PruneCriterion
    ratio: Expr
    min: Expr | None = None
    exclude: Selector | None = None


Statement = Annotated[SetField | Delete | Insert | Replace | Wrap | Quantize | Prune, Field(discriminator="kind")]
AnyStatement = SetField | Delete | Insert | Replace | Wrap | Quantize | Prune
STATEMENT_TYPES: tuple[type, ...] = get_args(AnyStatement)


def is_statement(node: object) -> TypeGuard[AnyStatement]:
    return isinstance(node, STATEMENT_TYPES)


class ExpectMatches(Node):
    kind: Literal["expect_matches"] = "expect_matches"
    op: CompareOp
    count: int


DEFAULT_ATOL = 1e-5
"""How far outputs may move and still be `equal` (and must move to be `changed`) unless `atol=` says."""


class ExpectOutputs(Node):
    kind: Literal["expect_outputs"] = "expect_outputs"
    outcome: Literal["equal", "changed"]
    atol: float = DEFAULT_ATOL
    rtol: float = 0.0


class ExpectCost(Node):
    """`expect params|macs CMP N`: the rewritten model's parameter count or multiply-accumulates."""

    kind: Literal["expect_cost"] = "expect_cost"
    measure: Literal["params", "macs"]
    op: CompareOp
    value: int


Expect = Annotated[ExpectMatches | ExpectOutputs | ExpectCost, Field(discriminator="kind")]


class Choice(Node):
    kind: Literal["choice"] = "choice"
    values: list[Expr]


class Range(Node):
    kind: Literal["range"] = "range"
    low: Expr
    high: Expr
    step: Expr | None = None


class Param(Node):
    """`param NAME = DEFAULT [in SPACE]`."""

    kind: Literal["param"] = "param"
    name: str
    default: Expr
    space: Annotated[Choice | Range, Field(discriminator="kind")] | None = None
    file: str = "<string>"


class Use(Node):
    """`use "path.rw"`: include another rule file, relative to this one."""

    kind: Literal["use"] = "use"
    path: str


class Rule(Node):
    """`rule ID ["description"] { statements and expectations }`."""

    kind: Literal["rule"] = "rule"
    id: str
    description: str | None = None
    statements: list[Statement] = Field(default_factory=list)
    expects: list[Expect] = Field(default_factory=list)
    file: str = "<string>"


class RuleFile(Node):
    """One parsed `.rw` file, items in source order."""

    path: str = "<string>"
    uses: list[Use] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    body: list[Annotated[Rule | SetField | Delete | Insert | Replace | Wrap | Quantize | Prune, Field(discriminator="kind")]] = Field(
        default_factory=list
    )


for _model in (BinOp, Neg, TupleValue, ListValue, Compare, Member, Selector, SetField, Range, Call, Capture, Delete, Insert, Replace, Wrap, Quantize, Prune, Rule, RuleFile):
    _model.model_rebuild()


def selectors(stmt: AnyStatement) -> list[Selector]:
    """The selectors a statement matches with (one per chain link for `replace`)."""
    if isinstance(stmt, Replace):
        return [c.selector for c in stmt.chain]
    if isinstance(stmt, Prune) and stmt.exclude is not None:
        return [stmt.selector, stmt.exclude]
    return [stmt.selector]


def selector_nodes(sel: Selector) -> list[Selector]:
    """`sel` and every alternative inside it, at any depth, outermost first."""
    return [sel, *(node for alt in sel.alternatives for node in selector_nodes(alt))]


def leaf_selectors(sel: Selector) -> list[Selector]:
    """The selectors without alternatives inside `sel`: each names one class, or is `*`."""
    return [node for node in selector_nodes(sel) if not node.alternatives]
