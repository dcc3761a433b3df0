"""The edit plan: what every statement decided, per layer, before any model is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rewrite.errors import Diagnostic, PlanError
from rewrite.graphview.view import GraphView, LayerInfo
from rewrite.lang import ast
from rewrite.report.data import (
    Cost,
    FieldChange,
    PrunedGroup,
    Skip,
    StatementReport,
    StructureChange,
    jsonable,
)

POLICY_ORDER: dict[str, int] = {"keep": 0, "identity": 0, "prune": 0, "slice": 1, "reinit": 2, "widen": 3}
"""How far each policy lets a layer's weights differ from its source (most permissive wins)."""


PRESERVING_ATOL, PRESERVING_RTOL = 1e-5, 1e-4
"""The tolerance of the `expect outputs equal` that a function-keeping edit implies."""


@dataclass(frozen=True)
class OutputExpectation:
    """An `expect outputs equal|changed` that validation checks: declared in a rule
    block, or implied by a transform that keeps the model's function."""

    expect: ast.ExpectOutputs
    rule: str | None = None
    """The rule that declares it."""
    transform: str | None = None
    """The transform that implies it (`fold_batchnorm`), with the statement's place."""
    file: str = ""
    line: int = 0

    @property
    def label(self) -> str:
        """How a report names it: the rule id, or `transform, file:line`."""
        return self.rule if self.rule is not None else f"{self.transform}, {self.file}:{self.line}"


@dataclass
class LayerEdit:
    """What changes for one layer (of the model, or added by the plan)."""

    info: LayerInfo
    overrides: dict[str, Any] = field(default_factory=dict)
    policy: str = "keep"
    statements: list[int] = field(default_factory=list)
    # structure, for layers of the model
    remove: bool = False
    """Deleted, or absorbed into a chain that a replacement took the place of."""
    replacement: list[LayerInfo] = field(default_factory=list)
    wrapper: LayerInfo | None = None
    before: list[LayerInfo] = field(default_factory=list)
    after: list[LayerInfo] = field(default_factory=list)
    # for layers the plan adds
    anchor: str | None = None
    """The model layer an added layer hangs from (inserted beside, replacing, wrapping)."""
    role: str = ""
    """How it was added: `after`, `before`, `replacement` or `wrapper`."""
    weights: dict[str, Any] | None = None
    """Values computed by a transform, by variable name, set as they are."""
    identity: bool = False
    quantize: str | None = None
    """The mode Keras's `layer.quantize` is called with once the weights are in place."""
    carry_from: str | None = None
    """A model layer whose weights this added layer takes, by path and shape."""

    def note(self, index: int, policy: str | None) -> None:
        if index not in self.statements:
            self.statements.append(index)
        if policy and POLICY_ORDER[policy] > POLICY_ORDER[self.policy]:
            self.policy = policy


@dataclass
class Plan:
    params: dict[str, Any]
    edits: dict[str, LayerEdit] = field(default_factory=dict)
    added: dict[str, LayerInfo] = field(default_factory=dict)
    """Layers the plan adds, by path, while they are still planned."""
    statements: list[StatementReport] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    """Unmet `expect matches` and, under strict, statements that matched nothing."""
    expect_outputs: list[OutputExpectation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settled: set[tuple[str, int, int]] = field(default_factory=set)
    """Places of rule-text warnings the model settled (a custom class it has)."""
    widenings: list[Any] = field(default_factory=list)
    """Net2WiderNet plans (rewrite.morphism.Widening), one per widened layer."""
    pruning: Any = None
    """The channel groups and the channels each pruned group keeps (rewrite.planner.pruning.Pruning)."""
    budgets: list[tuple[ast.ExpectCost, str, str]] = field(default_factory=list)
    """`expect params|macs` with the rule id and file that state them."""
    cost: Cost | None = None

    def signature(self) -> str:
        """A digest of everything the plan would build: equal digests, equal models."""
        import hashlib
        import json

        def added(infos: list[LayerInfo]) -> list[Any]:
            return [jsonable({**i.config, **self.overrides(i.key)}) for i in infos]

        parts = []
        for key in sorted(self.edits):
            e = self.edits[key]
            if e.info.virtual:
                continue  # described by the edit of the layer it hangs from
            parts.append([
                key, jsonable(e.overrides), e.policy, e.remove, added(e.replacement), added(e.before), added(e.after),
                added([e.wrapper]) if e.wrapper else None, e.quantize,
            ])
        if self.pruning is not None:
            parts.append(sorted((int(k), v.tolist()) for k, v in self.pruning.kept.items()))
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def widening_for(self, path: str) -> Any:
        for w in self.widenings:
            if path == w.layer or path in w.per_unit or path in w.consumers:
                return w
        return None

    def edit(self, info: LayerInfo) -> LayerEdit:
        return self.edits.setdefault(info.key, LayerEdit(info))

    def overrides(self, path: str) -> dict[str, Any]:
        edit = self.edits.get(path)
        return edit.overrides if edit else {}

    def gone(self, path: str) -> bool:
        """A model layer that is no longer there: deleted, absorbed or replaced."""
        edit = self.edits.get(path)
        return bool(edit and (edit.remove or edit.replacement))

    @property
    def structural(self) -> bool:
        return any(e.remove or e.replacement or e.wrapper or e.before or e.after for e in self.edits.values())

    def _origin(self, edit: LayerEdit) -> str:
        return edit.anchor or edit.info.path

    def _upstream_edits(self, path: str, view: GraphView) -> list[LayerEdit]:
        found = []
        for other in self.edits.values():
            origin = self._origin(other)
            if origin == path or (origin in view.layers and path in view.downstream(origin)):
                found.append(other)
        return found

    def cause(self, path: str, view: GraphView) -> str:
        """Which statements reshaped a layer: its own edits, or edits upstream of it."""
        edit = self.edits.get(path)
        indices = list(edit.statements) if edit else []
        for other in self._upstream_edits(path, view):
            if other is not edit and (other.overrides or other.replacement or other.wrapper or other.remove or other.before or other.after or other.role):
                indices += other.statements
        by_index = {s.index: s for s in self.statements}
        found = [f"`{by_index[i].source}` ({by_index[i].file}:{by_index[i].line})" for i in dict.fromkeys(indices) if i in by_index]
        return ", ".join(found) or "the rewrite"

    def policy_for(self, path: str, view: GraphView) -> str:
        """The policy for weight mismatches in a layer: its own edit's, or the most
        permissive of the edits upstream of it (whose change reshaped it)."""
        edit = self.edits.get(path)
        if edit and edit.policy not in ("keep", "identity"):
            return edit.policy
        best = "keep"
        for other in self._upstream_edits(path, view):
            if POLICY_ORDER[other.policy] > POLICY_ORDER[best]:
                best = other.policy
        return best


def plan_error(at: ast.AnyStatement, message: str) -> PlanError:
    """A PlanError about statement `at`: its Diagnostic carries the place, the text leads with it."""
    text = getattr(at, "source", "") or ""
    source = " " * (at.column - 1) + text.splitlines()[0] if text else ""
    diagnostic = Diagnostic(at.file, at.line, at.column, message, code="plan", source=source)
    return PlanError(str(diagnostic), diagnostic=diagnostic)


class StatementOutcome:
    """What one statement did, collected for its report."""

    def __init__(self) -> None:
        self.matched: list[LayerInfo] = []
        self.near: list[tuple[LayerInfo, str]] = []
        self.changes: list[FieldChange] = []
        self.skips: list[Skip] = []
        self.structure: list[StructureChange] = []
        self.warnings: list[str] = []
        self.pruned: list[PrunedGroup] = []
        self.preserving: OutputExpectation | None = None
        """Set by a transform that keeps the model's function: the check it implies."""
