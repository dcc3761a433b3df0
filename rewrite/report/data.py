"""What a rewrite or a plan did, as frozen data: the leaf that every stage reports into."""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer, model_validator


def jsonable(value: Any) -> Any:
    """A JSON-friendly copy of a config value (tuples as lists, objects by name)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return getattr(value, "__name__", None) or str(value)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldChange(Frozen):
    """One field of one layer set to a new value (`Dense.activation := tanh`)."""

    layer: str
    field: str
    old: Any
    new: Any

    @field_serializer("old", "new")
    def _ser(self, v: Any) -> Any:
        return jsonable(v)


class Skip(Frozen):
    """A matched layer that a statement left alone, and why (the value was already set, ...)."""

    layer: str
    reason: str


class StructureChange(Frozen):
    """A layer added, removed, replaced or wrapped, and where."""

    kind: Literal["added", "removed", "replaced", "wrapped"]
    layer: str
    """The model layer it concerns (the anchor of an insertion); a replaced chain as `a -> b`."""
    layers: list[str] = Field(default_factory=list)
    """The paths of the model layers it concerns, in chain order (read this, not `layer`)."""
    position: Literal["after", "before"] | None = None
    """Where an insertion goes relative to `layers[0]`."""
    new: list[str] = Field(default_factory=list)
    """Layers that come in."""
    classes: list[str] = Field(default_factory=list)
    """Their Keras classes, in the same order (`Dropout`)."""
    detail: str = ""
    before: str = ""
    """The layers around the change before it, e.g. `fc1 -> drop -> fc2`."""
    after: str = ""
    """And after it, e.g. `fc1 -> fc2` (the consumers are rewired)."""


class NearMiss(Frozen):
    """A layer of the selector's class that one predicate kept out of the matches."""

    layer: str
    reason: str
    """Which predicates held and which one failed."""


class PrunedGroup(Frozen):
    """One channel group a statement pruned: who produces its channels, who follows them, what stays."""

    producers: list[str]
    """The layers whose output channels these are (Conv/Dense), joined by merges such as Add."""
    members: list[str] = Field(default_factory=list)
    """Every other layer whose weights follow the channels (BatchNormalization, DepthwiseConv, the next layers' input rows)."""
    channels_before: int
    channels_after: int
    kept: list[int] = Field(default_factory=list)
    """The indices of the channels kept, ascending."""
    params_removed: int = 0
    """Parameters this group's channels carried (pruning it alone)."""
    criterion: str = ""


class Cost(Frozen):
    """The model's size and compute before and after the rewrite (as the plan predicts it)."""

    params_before: int
    params_after: int
    macs_before: int
    """Multiply-accumulates of the convolution and Dense layers for one sample."""
    macs_after: int


class StatementReport(Frozen):
    """What one statement did: its matches, changes, structural edits, skips and near misses."""

    index: int
    source: str
    file: str
    line: int
    rule: str | None = None
    matches: list[str] = Field(default_factory=list)
    changes: list[FieldChange] = Field(default_factory=list)
    structure: list[StructureChange] = Field(default_factory=list)
    skips: list[Skip] = Field(default_factory=list)
    near_misses: list[NearMiss] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    pruned: list[PrunedGroup] = Field(default_factory=list)
    """Channel groups a pruning statement shrank."""

    @property
    def changed_layers(self) -> list[str]:
        """The paths of the model layers this statement changed, set or restructured."""
        paths = {c.layer for c in self.changes} | {p for c in self.structure for p in (c.layers or [c.layer])}
        return sorted(paths)


class WeightAction(Frozen):
    """A weight that was not simply copied: re-initialized, sliced, dropped, widened, ..."""

    layer: str
    weight: str
    action: Literal["reinitialized", "sliced", "dropped", "new", "identity", "computed", "widened", "adapter", "quantized", "pruned"]
    old_shape: list[int] | None = None
    new_shape: list[int] | None = None


class WeightSummary(Frozen):
    """How many weights were copied bit for bit, and what happened to the others."""

    copied: int = 0
    """Variables copied from the original."""
    copied_values: int = 0
    """Scalars in those variables."""
    actions: list[WeightAction] = Field(default_factory=list)
    """Every weight that was not simply copied (re-initialized or sliced)."""


CheckKind = Literal[
    "probe", "well-formed", "config-round-trip", "save-load", "kept-weights", "weight-accounting",
    "expect-equal", "expect-changed", "changes-in-effect", "changes-kept", "finite", "budget",
]


class CheckResult(Frozen):
    """One validation check: what it checks, its name, `passed`, `failed` or `skipped`, and the detail."""

    kind: CheckKind
    name: str
    status: Literal["passed", "failed", "skipped"]
    detail: str = ""


class Drift(Frozen):
    """How far one output (or its logits) moved between the original and the new model on the probe batch."""

    output: str
    kind: Literal["output", "logits"]
    max_abs: float
    """Largest absolute difference."""
    max_rel: float
    """`max_abs` relative to the largest absolute original value."""


class Evaluation(Frozen):
    """Loss and metrics of both models on the user's `evaluate=(x, y)` data."""

    original: dict[str, float]
    rewritten: dict[str, float]


class ReportData(Frozen):
    """What a rewrite (or a dry run) did, as frozen data; `RewriteReport` adds its renderings."""

    mode: Literal["clone", "inplace", "plan"]
    params: dict[str, Any] = Field(default_factory=dict)
    """The parameter values used, defaults included."""
    statements: list[StatementReport] = Field(default_factory=list)
    """One entry per statement, in file order."""
    weights: WeightSummary = Field(default_factory=WeightSummary)
    validation: list[CheckResult] = Field(default_factory=list)
    drift: list[Drift] = Field(default_factory=list)
    """Output and logit drift of the new model against the original."""
    cost: Cost | None = None
    """Parameters and multiply-accumulates before and after, when the rules prune or state a budget."""
    evaluation: Evaluation | None = None
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    """Seconds per stage (parse, match, plan, materialize, weights, validate, ...)."""
    signature: str = ""
    """A digest of what the plan builds: two rewrites with one signature give one model."""
    in_memory: bool = False
    """Made with `in_memory=True`: the result is for this process."""
    lost_on_save: list[str] = Field(default_factory=list)
    """Changes a save and reload would lose (each with its layer and why); `save` refuses while any."""

    @field_serializer("params")
    def _ser_params(self, v: dict[str, Any]) -> Any:
        return jsonable(v)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """True when no validation check failed (in the JSON too, as the top-level verdict)."""
        return all(c.status != "failed" for c in self.validation)

    @model_validator(mode="before")
    @classmethod
    def _computed_fields_are_not_input(cls, data: Any) -> Any:
        """A report read back from its JSON: `passed` is computed again, not taken."""
        if isinstance(data, dict) and "passed" in data:
            data = {k: v for k, v in data.items() if k != "passed"}
        return data

    @property
    def changes(self) -> list[FieldChange]:
        return [c for s in self.statements for c in s.changes]

    @property
    def changed_layers(self) -> list[str]:
        """The paths of every model layer the rewrite changed, set or restructured."""
        return sorted({p for s in self.statements for p in s.changed_layers})

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())


class GraphRow(NamedTuple):
    """One layer call, as `keras-rewrite graph` prints it and a notebook shows it."""

    path: str
    cls: str
    shapes: str
    inputs: list[str]
