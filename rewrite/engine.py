"""The pipeline, left to right: graph view -> plan -> model -> weights -> validation -> report."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from rewrite import ast
from rewrite.catalog import catalog
from rewrite.editplan import Plan
from rewrite.errors import Diagnostic, MatchError, RuleCheckError, ValidationFailure
from rewrite.graphview import GraphView, build_view
from rewrite.planning import build_plan
from rewrite.progress import Progress
from rewrite.report import CheckResult, Evaluation, RewriteReport, RewriteResult, WeightSummary
from rewrite.ruleset import RuleSet

Mode = Literal["clone", "inplace"]
Validate = Literal["full", "config", "none"]


@contextmanager
def _recursion_room(view: GraphView):
    """Python stack depth for Keras's graph walks, which recurse once per layer on a path.

    A user's 3,000-layer model was built with a raised recursion limit; cloning,
    saving and loading it recurse as deep again. The limit is raised (never lowered)
    for the rewrite and put back after it.
    """
    before = sys.getrecursionlimit()
    needed = 4 * len(view.layers) + 2000
    if needed > before:
        sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        if sys.getrecursionlimit() == needed and needed > before:
            sys.setrecursionlimit(before)


class _Clock:
    """Times each stage; with a progress bar, also shows which stage is running."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    def step(self, name: str) -> None:
        """A step inside a stage (a validation check): shown, not timed on its own."""
        if self.progress is not None:
            self.progress.step(name)

    @contextmanager
    def stage(self, name: str, shown: str = ""):
        self.step(shown or name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def _check_against_model(ruleset: RuleSet, view: GraphView) -> None:
    """Classes the catalogue did not know (custom layers) must exist in the model."""
    present = set(view.by_class)
    found = []
    for cs in ruleset.statements:
        stack = ast.selectors(cs.statement)
        while stack:
            sel = stack.pop()
            stack.extend(sel.alternatives)
            for name in sel.classes:
                if not catalog().knows(name) and name not in present:
                    hint = catalog().suggest(name, present)
                    extra = f"; did you mean `{hint}`?" if hint else f"; the model's classes: {', '.join(sorted({i.class_name for i in view.layers.values()}))}"
                    found.append(Diagnostic(cs.statement.file, sel.line, sel.column, f"no layer of class `{name}` in the model{extra}", code="unknown-class"))
    if found:
        raise RuleCheckError(found)


@dataclass
class Prepared:
    """What does not depend on parameter values, kept across the variants of one model."""

    model: Any
    view: GraphView
    probe: Any = None
    before: Any = None
    config_memo: Any = None
    """validation.ConfigMemo: the graphs and layer configs earlier variants round-tripped."""

    @classmethod
    def of(cls, model: Any) -> Prepared:
        return cls(model, build_view(model))


def prepare(
    ruleset: RuleSet,
    model: Any,
    params: dict[str, Any] | None,
    strict: bool,
    clock: _Clock,
    prepared: Prepared | None = None,
    plan: Plan | None = None,
) -> tuple[GraphView, Plan]:
    if plan is not None and prepared is not None and prepared.model is model:
        return prepared.view, plan  # planned already (the search path plans each draw once)
    values = ruleset.resolve_params(params)
    with clock.stage("graph"):
        view = prepared.view if prepared is not None and prepared.model is model else build_view(model)
    with clock.stage("plan"):
        _check_against_model(ruleset, view)
        plan = build_plan(ruleset, view, values, strict=strict)
    return view, plan


def dry_run(
    ruleset: RuleSet, model: Any, params: dict[str, Any] | None = None, strict: bool = False, prepared: Prepared | None = None
) -> RewriteReport:
    """What the rules would match and change, with near misses; builds nothing."""
    return planned(ruleset, model, params, strict, prepared)[1]


def planned(
    ruleset: RuleSet, model: Any, params: dict[str, Any] | None = None, strict: bool = False, prepared: Prepared | None = None
) -> tuple[Plan, RewriteReport]:
    """The plan and `dry_run`'s report of it; `run(..., plan=plan)` builds it without planning again."""
    clock = _Clock()
    view, plan = prepare(ruleset, model, params, strict, clock, prepared)
    return plan, RewriteReport(
        mode="plan",
        params=plan.params,
        statements=plan.statements,
        warnings=[d.message for d in ruleset.warnings] + plan.problems,
        timings=clock.timings,
        signature=plan.signature(),
    )


def _located(checks: list[CheckResult], plan: Plan, original: Any, new_model: Any, x: Any) -> list[CheckResult]:
    """A failed `expect outputs equal` says which layer's output moved first."""
    from rewrite import validation as v

    out = []
    for check in checks:
        expects = [e for _, e in plan.expect_outputs if e.outcome == "equal"]
        if check.status == "failed" and check.name.startswith("expect outputs equal") and expects:
            where = v.locate_divergence(original, new_model, x, min(e.atol for e in expects))
            if where:
                check = CheckResult(name=check.name, status="failed", detail=f"{check.detail}; {where}")
        out.append(check)
    return out


def run(
    ruleset: RuleSet,
    model: Any,
    params: dict[str, Any] | None = None,
    mode: Mode = "clone",
    validate: Validate = "full",
    strict: bool = False,
    probe: Any = None,
    evaluate: tuple[Any, Any] | None = None,
    custom_objects: dict[str, Any] | None = None,
    safe_mode: bool = True,
    prepared: Prepared | None = None,
    progress: bool | Progress | None = None,
    plan: Plan | None = None,
    drift: bool = False,
) -> RewriteResult:
    """Rewrite `model`; see `rewrite.apply` for the options.

    `progress`: True draws a progress bar on stderr when it is a terminal; a
    `Progress` is drawn on (and left open for its owner to close). `plan`: what
    `planned(ruleset, model, params, strict, prepared)` returned, used (with
    that `prepared`) instead of planning again. `drift`: measure how far the
    outputs and logits moved on the probe batch whatever `validate` is (`"full"`
    always does).
    """
    if progress is True:
        with Progress("rewrite") as own:
            return _run(ruleset, model, params, mode, validate, strict, probe, evaluate, custom_objects, safe_mode, prepared, own, plan, drift)
    given = progress if isinstance(progress, Progress) else None
    return _run(ruleset, model, params, mode, validate, strict, probe, evaluate, custom_objects, safe_mode, prepared, given, plan, drift)


def _run(
    ruleset: RuleSet,
    model: Any,
    params: dict[str, Any] | None,
    mode: Mode,
    validate: Validate,
    strict: bool,
    probe: Any,
    evaluate: tuple[Any, Any] | None,
    custom_objects: dict[str, Any] | None,
    safe_mode: bool,
    prepared: Prepared | None,
    progress: Progress | None,
    given_plan: Plan | None = None,
    measure_drift: bool = False,
) -> RewriteResult:
    if mode not in ("clone", "inplace"):
        raise ValueError(f"mode must be 'clone' or 'inplace'. Received: mode={mode!r}")
    if validate not in ("full", "config", "none"):
        raise ValueError(f"validate must be 'full', 'config' or 'none'. Received: validate={validate!r}")
    clock = _Clock(progress)
    if prepared is not None and (prepared.model is not model or mode != "clone"):
        prepared = None  # in place, the model changes under the cache
    view, plan = prepare(ruleset, model, params, strict, clock, prepared, given_plan)
    if plan.problems:
        raise MatchError("the rules did not match as required:\n" + "\n".join(plan.problems))
    from rewrite import validation as v

    with _recursion_room(view):  # room on the stack for Keras's graph walks
        probing = validate == "full" or measure_drift or bool(plan.expect_outputs) or evaluate is not None
        if progress is not None:
            progress.expect(_count_steps(mode, validate, probing, evaluate is not None) - 2)  # graph and plan are done
        probe_x = None
        before = None
        if probing:
            with clock.stage("probe"):
                v.require_runnable(model)
                if probe is None and prepared is not None and prepared.before is not None:
                    probe_x, before = prepared.probe, prepared.before
                else:
                    probe_x = probe if probe is not None else v.make_probe(model, view)
                    before = v.compute(model, probe_x)
                    if prepared is not None and probe is None:
                        prepared.probe, prepared.before = probe_x, before
        notes: list[str] = list(plan.notes)
        undo = None
        kept: list[tuple[str, Any, Any]] = []
        summary = WeightSummary()
        if mode == "clone":
            from rewrite.materialize import materialize
            from rewrite.weights import transfer

            with clock.stage("materialize"):
                built = materialize(view, plan)
            with clock.stage("weights"):
                moved = transfer(view, plan, built)
            new_model, kept, summary = built.model, moved.kept, moved.summary
            notes += built.notes
        else:
            from rewrite.inplace import apply_inplace

            if plan.structural or plan.added:
                from rewrite.errors import InplaceError

                raise InplaceError(
                    "in-place mode only sets fields of existing layers; `delete`, `insert`, `replace` and `wrap` "
                    "change the graph: use mode='clone' (CLI: --mode clone)"
                )
            with clock.stage("inplace"):
                inplace_notes, undo = apply_inplace(view, plan)
                notes += inplace_notes
            new_model = model

        checks: list[CheckResult] = []
        drifts = []
        if validate != "none":
            with clock.stage("validate", "validate: well formed"):
                if before is not None:
                    checks.append(v.check_probe(before))
                checks.append(v.check_well_formed(new_model))
                if validate == "config":
                    clock.step("validate: config round trip")
                    memo = None
                    if prepared is not None:
                        prepared.config_memo = memo = prepared.config_memo or v.ConfigMemo()
                    checks.append(v.check_config_round_trip(new_model, custom_objects, safe_mode, memo))
                clock.step("validate: outputs on the probe batch")
                after = v.compute(new_model, probe_x) if probe_x is not None else None
                if validate == "full" and after is not None:
                    clock.step("validate: .keras save and reload")
                    save_load, round_trip = v.check_save_load(new_model, probe_x, after, custom_objects, safe_mode)
                    checks += [round_trip, save_load]
                clock.step("validate: kept weights")
                if mode == "clone":
                    checks.append(v.check_kept_weights(kept))
                    checks.append(v.check_accounting(new_model, kept, summary.actions))
                else:
                    checks.append(CheckResult(name="kept weights", status="passed", detail="in place: no weight was touched"))
                if before is not None and after is not None:
                    clock.step("validate: drift")
                    drifts = v.drift(before, after)
                    checks += _located(v.check_expectations(drifts, plan.expect_outputs), plan, model, new_model, probe_x)
        elif (plan.expect_outputs or measure_drift) and before is not None:
            after = v.compute(new_model, probe_x)
            drifts = v.drift(before, after)
            checks += v.check_expectations(drifts, plan.expect_outputs)
        evaluation = None
        if evaluate is not None:
            with clock.stage("evaluate"):
                original_scores, new_scores = v.evaluate_both(model, new_model, evaluate)
                evaluation = Evaluation(original=original_scores, rewritten=new_scores)
        if getattr(model, "compiled", False) and mode == "clone":
            notes.append("the input model was compiled; the result is compiled with the same config (fresh optimizer state)")
        report = RewriteReport(
            mode=mode,
            params=plan.params,
            statements=plan.statements,
            weights=summary,
            validation=checks,
            drift=drifts,
            evaluation=evaluation,
            notes=notes,
            warnings=[d.message for d in ruleset.warnings],
            timings=clock.timings,
            signature=plan.signature(),
        )
        if not report.passed:
            failed = [c for c in checks if c.status == "failed"]
            if undo is not None:
                undo()  # in place: the input model goes back to what it was
            raise ValidationFailure(
                "validation failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed) + ". Nothing was written.",
                report=report,
            )
        from rewrite.provenance import record

        return RewriteResult(new_model, report, provenance=record(ruleset, plan.params, report))


def _count_steps(mode: Mode, validate: Validate, probing: bool, evaluating: bool) -> int:
    """How many steps `run` shows on a progress bar, as the stages and checks below go."""
    steps = 2 + int(probing) + (2 if mode == "clone" else 1) + int(evaluating)
    if validate != "none":
        steps += 3  # well formed, outputs, kept weights
        steps += int(validate == "config") + int(validate == "full" and probing) + int(probing)
    return steps


__all__ = ["dry_run", "planned", "run"]
