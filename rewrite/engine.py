"""The pipeline, left to right: graph view -> plan -> model -> weights -> validation -> report.

`run` is the whole of it; every stage it calls lives in its own subpackage
(graphview, planner, build, validation, report). `planned` and `dry_run` stop
after the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rewrite._keras_private import release_variables
from rewrite.build.clone import materialize, recursion_room
from rewrite.build.inplace import apply_inplace
from rewrite.build.weights import transfer
from rewrite.errors import (
    InplaceError,
    MatchError,
    PlanError,
    UnsupportedModelError,
    ValidationFailure,
)
from rewrite.graphview.view import GraphView, build_view
from rewrite.io.provenance import record
from rewrite.lang.loader import CheckedRules
from rewrite.planner.plan import Plan
from rewrite.planner.statements import build_plan, check_against_model
from rewrite.progress import Progress, StageClock
from rewrite.report.data import Evaluation, WeightSummary
from rewrite.report.rewrite_report import RewriteReport
from rewrite.result import RewriteResult
from rewrite.validation.checks import ConfigMemo, check_budgets
from rewrite.validation.outputs import compute, evaluate_both
from rewrite.validation.probe import make_probe, require_rows, require_runnable, unprobed_reason
from rewrite.validation.suite import Level, Mode, Probe, Suite


@dataclass
class ModelCache:
    """What does not depend on parameter values, kept across many rewrites of one model.

    An architecture search makes many variants of one model; with a cache the
    graph view, the probe batch and its outputs, and the configs that validation
    round-trips are made once, not once per variant. Pass the same cache to every
    rewrite of that model (`rewrite.apply(model, rules, params=..., cache=cache)`);
    a cache made for another model, or used in place, is ignored.

    Examples:
        >>> from rewrite.engine import ModelCache
        >>> cache = ModelCache.of(model)
        >>> a = rewrite.apply(model, "Dense.activation := tanh", cache=cache)
        >>> b = rewrite.apply(model, "Dense.activation := gelu", cache=cache)
        >>> a.report.passed and b.report.passed
        True
    """

    model: Any
    view: GraphView
    probe: Probe | None = None
    config_memo: ConfigMemo | None = None
    """The graphs and layer configs earlier variants round-tripped."""

    @classmethod
    def of(cls, model: Any) -> ModelCache:
        """A cache for `model` (its graph view is built now)."""
        return cls(model, build_view(model))

    def __repr__(self) -> str:
        return f"<ModelCache of {getattr(self.model, 'name', '?')!r}: {len(self.view.layers)} layers>"


def prepare(
    ruleset: CheckedRules,
    model: Any,
    params: dict[str, Any] | None,
    strict: bool,
    clock: StageClock,
    cache: ModelCache | None = None,
    plan: Plan | None = None,
    mode: Mode = "clone",
) -> tuple[GraphView, Plan]:
    """The graph view and the plan (`plan`, when the search path planned this draw already)."""
    if plan is not None and cache is not None and cache.model is model:
        return cache.view, plan
    values = ruleset.resolve_params(params)
    with clock.stage("graph"):
        # In place, the sublayers of composite layers are in reach too; a clone rebuilds layers from configs.
        view = cache.view if cache is not None and cache.model is model else build_view(model, sublayers=mode == "inplace")
    with clock.stage("plan"):
        settled = check_against_model(ruleset, view)
        plan = build_plan(ruleset, view, values, strict=strict)
        plan.settled = settled
    return view, plan


def _warnings(ruleset: CheckedRules, plan: Plan) -> list[str]:
    """The rule files' warnings that still hold once the model is known."""
    return [d.message for d in ruleset.warnings if (d.file, d.line, d.column) not in plan.settled]


def dry_run(
    ruleset: CheckedRules, model: Any, params: dict[str, Any] | None = None, strict: bool = False, cache: ModelCache | None = None
) -> RewriteReport:
    """What the rules would match and change, with near misses; builds nothing."""
    return planned(ruleset, model, params, strict, cache)[1]


def planned(
    ruleset: CheckedRules, model: Any, params: dict[str, Any] | None = None, strict: bool = False, cache: ModelCache | None = None
) -> tuple[Plan, RewriteReport]:
    """The plan and `dry_run`'s report of it; `run(..., plan=plan)` builds it without planning again."""
    clock = StageClock()
    view, plan = prepare(ruleset, model, params, strict, clock, cache)
    return plan, RewriteReport(
        mode="plan",
        params=plan.params,
        statements=plan.statements,
        warnings=_warnings(ruleset, plan) + [p.message for p in plan.problems],
        timings=clock.timings,
        signature=plan.signature(),
        cost=plan.cost,
    )


def run(
    ruleset: CheckedRules,
    model: Any,
    params: dict[str, Any] | None = None,
    mode: Mode = "clone",
    validate: Level = "full",
    strict: bool = False,
    probe: Any = None,
    evaluate: tuple[Any, Any] | None = None,
    custom_objects: dict[str, Any] | None = None,
    safe_mode: bool = True,
    cache: ModelCache | None = None,
    progress: bool | Progress | None = None,
    plan: Plan | None = None,
    drift: bool = False,
    in_memory: bool = False,
    consume: bool = False,
) -> RewriteResult:
    """Rewrite `model`; see `rewrite.apply` for the options.

    `progress`: True draws a progress bar on stderr when it is a terminal; a
    `Progress` is drawn on (and left open for its owner to close). `cache`: what
    variants of one model share. `plan`: what `planned(ruleset, model, params,
    strict, cache)` returned, used (with that `cache`) instead of planning again.
    `drift`: measure how far the outputs and logits moved on the probe batch
    whatever `validate` is (`"full"` always does). `in_memory`: the result stays in
    this process; a change that a save and reload would lose is reported instead of
    failing validation, and `result.save()` refuses. `consume`: in clone mode, the
    rewrite frees `model`'s weights once it no longer needs them (see `_consumer`).
    """
    if mode not in ("clone", "inplace"):
        raise ValueError(f"mode must be 'clone' or 'inplace'. Received: mode={mode!r}")
    if validate not in ("full", "config", "none"):
        raise ValueError(f"validate must be 'full', 'config' or 'none'. Received: validate={validate!r}")
    if consume and cache is not None:
        raise ValueError("consume=True frees the model's weights, so a cache of it serves no later rewrite: pass one or the other")
    if progress is True:
        with Progress("rewrite") as own:
            return _run(ruleset, model, params, mode, validate, strict, probe, evaluate, custom_objects, safe_mode, cache, own, plan, drift, in_memory, consume)
    given = progress if isinstance(progress, Progress) else None
    return _run(ruleset, model, params, mode, validate, strict, probe, evaluate, custom_objects, safe_mode, cache, given, plan, drift, in_memory, consume)


def _run(
    ruleset: CheckedRules,
    model: Any,
    params: dict[str, Any] | None,
    mode: Mode,
    validate: Level,
    strict: bool,
    probe_x: Any,
    evaluate: tuple[Any, Any] | None,
    custom_objects: dict[str, Any] | None,
    safe_mode: bool,
    cache: ModelCache | None,
    progress: Progress | None,
    given_plan: Plan | None,
    measure_drift: bool,
    in_memory: bool,
    consume: bool = False,
) -> RewriteResult:
    clock = StageClock(progress)
    if cache is not None and (cache.model is not model or mode != "clone"):
        cache = None  # in place, the model changes under the cache
    view, plan = prepare(ruleset, model, params, strict, clock, cache, given_plan, mode)
    if mode == "clone" and not view.has_graph:
        raise UnsupportedModelError(
            f"`{model.name}` is a subclassed model ({type(model).__name__}): it has no graph of layer calls for clone "
            "mode to rebuild. mode='inplace' sets fields on its layers (activation, trainable, rate and other fields "
            "read when the layer runs); or build the model functionally"
        )
    if plan.problems:
        problems = ruleset.sourced(plan.problems)
        raise MatchError("the rules did not match as required:\n" + "\n".join(str(p) for p in problems), diagnostics=problems)
    if mode == "inplace" and plan.pruning is not None:
        raise PlanError(
            "pruning removes channels, which changes the shapes of the pruned layers' weights and of every layer that "
            "reads them; in-place mode only sets fields that keep every shape: use mode='clone' (CLI: --mode clone)"
        )
    if mode == "inplace" and (plan.structural or plan.added):
        raise InplaceError(
            "in-place mode only sets fields of existing layers; `delete`, `insert`, `replace` and `wrap` "
            "change the graph: use mode='clone' (CLI: --mode clone)"
        )
    with recursion_room(view):  # room on the stack for Keras's graph walks
        probing = validate != "none" or measure_drift or bool(plan.expect_outputs) or evaluate is not None
        # At `config`, the model is run too (its outputs must stay finite), where it can be.
        unprobed = unprobed_reason(model, probe_x) if validate == "config" and not (measure_drift or plan.expect_outputs or evaluate) else None
        probing = probing and unprobed is None
        memo = None
        if cache is not None and validate == "config":
            cache.config_memo = memo = cache.config_memo or ConfigMemo()
        changes = [c for s in plan.statements for c in s.changes]
        consumer = _Consumer(model) if consume and mode == "clone" else None
        # Freed before the reload, but not when evaluating (both models are needed after
        # validation) nor in memory only (the reload may lack a change the model in memory has).
        release = consumer.release if consumer is not None and evaluate is None and not in_memory else None
        suite = Suite(
            mode, validate, probing, plan.expect_outputs, measure_drift, custom_objects, safe_mode, memo, changes, in_memory, unprobed, release
        )
        if progress is not None:  # the steps that follow planning, counted from what will run
            progress.expect(int(probing) + (2 if mode == "clone" else 1) + len(suite.steps) + int(evaluate is not None))
        probe = _probe(model, view, probe_x, cache, clock) if probing else None
        notes: list[str] = list(plan.notes)
        undo = None
        kept: list[tuple[str, Any, Any]] = []
        summary = WeightSummary()
        if mode == "clone":
            with clock.stage("materialize"):
                built = materialize(view, plan)
            with clock.stage("weights"):
                moved = transfer(view, plan, built)
            new_model, kept, summary = built.model, moved.kept, moved.summary
            notes += built.notes
            if consumer is not None:
                consumer.new_model = new_model
            if built.inlined:  # each change is read back where its layer now sits
                suite.changes = [c.model_copy(update={"layer": built.located(c.layer)}) for c in changes]
        else:
            with clock.stage("inplace"):
                inplace_notes, quantized, undo = apply_inplace(view, plan)
                summary = WeightSummary(actions=quantized)
            new_model = model
            notes += inplace_notes
        try:
            if suite.steps:
                with clock.stage("validate", suite.steps[0]):
                    checks, drifts = suite.run(model, new_model, probe, kept, summary.actions, clock.step)
            else:
                checks, drifts = suite.run(model, new_model, probe, kept, summary.actions, clock.step)
            if suite.reloaded is not None:
                new_model = suite.reloaded  # the model read back from the validated file
            cost = plan.cost
            if cost is not None:  # budgets are checked on the parameters the built model has
                counted = int(new_model.count_params())
                if counted != cost.params_after:
                    notes.append(f"the plan predicted {cost.params_after:,} parameters; the rewritten model has {counted:,}")
                checks = checks + check_budgets(plan.budgets, cost.model_copy(update={"params_after": counted}))
            evaluation = None
            if evaluate is not None:
                with clock.stage("evaluate"):
                    original_scores, new_scores = evaluate_both(model, new_model, evaluate)
                    evaluation = Evaluation(original=original_scores, rewritten=new_scores)
            if consumer is not None and (consumer.freed or all(c.status != "failed" for c in checks)):
                notes.append(consumer.note())  # a rewrite that failed before the release left the input whole
            if getattr(model, "compiled", False) and mode == "clone":
                notes.append("the input model was compiled; the result is compiled with the same config (fresh optimizer state)")
            report = RewriteReport(
                mode=mode,
                params=plan.params,
                statements=plan.statements,
                weights=summary,
                validation=checks,
                drift=drifts,
                cost=cost,
                evaluation=evaluation,
                notes=notes,
                warnings=_warnings(ruleset, plan),
                timings=clock.timings,
                signature=plan.signature(),
                in_memory=in_memory,
                lost_on_save=suite.lost_on_save,
            )
            if not report.passed:
                failed = [c for c in checks if c.status == "failed"]
                raise ValidationFailure(
                    "validation failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed) + ". Nothing was written.",
                    report=report,
                )
            if consumer is not None:
                consumer.finish()
        except BaseException:
            if undo is not None:
                undo()  # in place: whatever fails after the change, the input model goes back
            if suite.saved is not None:
                suite.saved.discard()
            raise
        return RewriteResult(new_model, report, provenance=record(ruleset, plan.params, report), validated_save=suite.saved)


class _Consumer:
    """`consume=True`: the rewrite takes over the input model's memory.

    Every check that needs the original or the new model in memory runs first;
    then, before the `.keras` reload of full validation, both models' weights are
    freed (the reload is compared to the new model's outputs and per-variable
    checksums, kept aside) and the reloaded model is the result. At the peak the
    process holds the input's weights (which the new model's kept weights share)
    or the reload's, not both. Without a reload, the input's weights are freed once
    the rewrite is done. Either way the input model is left as a structure
    without values, and the report says so.
    """

    def __init__(self, model: Any):
        self.model = model
        self.new_model: Any = None
        self.freed = 0

    def release(self) -> None:
        self.freed += release_variables(self.model)
        if self.new_model is not None:
            release_variables(self.new_model)

    def note(self) -> str:
        freed = f" ({self.freed / 2**20:,.0f} MB freed)" if self.freed else ""
        return (
            f"consume=True: the input model `{self.model.name}` gave its weights to the rewrite{freed}, so it can no "
            "longer be used in this process (files on disk are untouched); use the result's model"
        )

    def finish(self) -> None:
        """Free the input's weights, if validation did not already (the rewrite passed)."""
        if not self.freed:
            self.freed = release_variables(self.model)


def _probe(model: Any, view: GraphView, given: Any, cache: ModelCache | None, clock: StageClock) -> Probe:
    """The probe batch and the original's outputs on it (kept in the cache for the next variant)."""
    with clock.stage("probe"):
        require_runnable(model)
        if given is None and cache is not None and cache.probe is not None:
            return cache.probe
        x = given if given is not None else make_probe(model, view)
        require_rows(x)
        probe = Probe(x, compute(model, x))
        if cache is not None and given is None:
            cache.probe = probe
        return probe


__all__ = ["ModelCache", "dry_run", "planned", "run"]
