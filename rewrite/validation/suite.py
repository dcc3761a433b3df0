"""Which validation checks run, in which order, and how many steps they show.

The steps are decided once, from the mode, the validation level and whether the
model is probed; the progress bar counts that same list, so the count cannot
drift from what runs. Each check itself lives in `rewrite.validation.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewrite._keras_private import release_variables
from rewrite.modes import Level, Mode
from rewrite.planner.plan import OutputExpectation
from rewrite.report.data import CheckResult, Drift, FieldChange, WeightAction
from rewrite.validation.checks import (
    ConfigMemo,
    check_accounting,
    check_expectations,
    check_finite,
    check_kept_weights,
    check_probe,
    check_well_formed,
    rebuild_from_config,
)
from rewrite.validation.effects import check_in_effect, check_kept, check_kept_by_layer
from rewrite.validation.outputs import Outputs, compute, drift, locate_divergence
from rewrite.validation.reload import ValidatedSave, save_and_reload


@dataclass
class Probe:
    """The probe batch and the original model's outputs and logits on it."""

    x: Any
    before: Outputs


@dataclass
class Suite:
    """The validation of one rewrite: what runs, decided before anything runs."""

    mode: Mode
    level: Level
    probing: bool
    """Whether the model is run on a probe batch (outputs, drift, save and reload)."""
    expects: Sequence[OutputExpectation] = ()
    measure_drift: bool = False
    custom_objects: dict | None = None
    safe_mode: bool = True
    memo: ConfigMemo | None = None
    changes: Sequence[FieldChange] = ()
    """The plan's field changes, read back on the built model and on a rebuilt one."""
    in_memory: bool = False
    """The caller keeps the result in this process: a change a save would lose is reported, not failed."""
    unprobed: str | None = None
    """Why the model is not run on a probe although the level would (said as a skipped check)."""
    release: Callable[[], None] | None = None
    """Frees the original's and the new model's weights (`consume=True`): the save and
    reload then comes last, once every other check has passed, the weights are freed
    before the reload, and the reloaded model becomes the result (`reloaded`)."""
    steps: list[str] = field(init=False)
    lost_on_save: list[str] = field(init=False, default_factory=list)
    """What a save and reload would lose, found by the last `run`."""
    reloaded: Any = field(init=False, default=None)
    """With `release`, the reloaded model once the weights it was saved from were freed."""
    saved: ValidatedSave | None = field(init=False, default=None)
    """With `release`, the folder `reloaded` was loaded from, once it passed: the file to write."""

    def __post_init__(self) -> None:
        steps: list[str] = []
        if self.level != "none":
            steps.append("validate: well formed")
            if self.level == "config":
                steps.append("validate: config round trip")
            steps.append("validate: outputs on the probe batch")
            if self.level == "full" and self.probing:
                steps.append("validate: .keras save and reload")
            steps.append("validate: kept weights")
            if self.probing:
                steps.append("validate: drift")
            reload = "validate: .keras save and reload"
            if self.release is not None and reload in steps:  # last, once the rest has passed
                steps.remove(reload)
                steps.append(reload)
        self.steps = steps

    def run(
        self,
        original: Any,
        new_model: Any,
        probe: Probe | None,
        kept: Sequence[tuple[str, Any, Any]],
        actions: Sequence[WeightAction],
        step: Callable[[str], None],
    ) -> tuple[list[CheckResult], list[Drift]]:
        """Every check in order (each announced through `step`); the results and the drift."""
        if self.level == "none":
            if probe is None or not (self.expects or self.measure_drift):
                return [], []
            outputs = compute(new_model, probe.x)
            moved = drift(probe.before, outputs)
            return [check_finite(probe.before, outputs), *check_expectations(moved, self.expects)], moved
        steps = iter(self.steps)
        checks: list[CheckResult] = []
        if probe is not None:
            checks.append(check_probe(probe.before))
        checks.append(check_well_formed(new_model))
        in_effect = check_in_effect(self.changes, new_model)
        checks += [in_effect] if in_effect is not None else []
        next(steps)
        if self.level == "config":
            step(next(steps))
            round_trip, rebuilt = rebuild_from_config(new_model, self.custom_objects, self.safe_mode, self.memo)
            checks += [round_trip, *self._kept(new_model, rebuilt, "get_config -> from_config")]
            if rebuilt is not None:  # a second set of weights: freed now, not when the collector runs
                release_variables(rebuilt)
        step(next(steps))
        after = compute(new_model, probe.x) if probe is not None else None
        if probe is not None and after is not None:
            checks.append(check_finite(probe.before, after))
        elif self.unprobed:
            checks.append(CheckResult(kind="finite", name="finite outputs", status="skipped", detail=f"not run: {self.unprobed}"))
        reloading = self.level == "full" and probe is not None and after is not None
        if reloading and self.release is None and probe is not None and after is not None:
            step(next(steps))
            checks += self._reload(new_model, probe, after, None)
        step(next(steps))
        if self.mode == "clone":
            checks.append(check_kept_weights(kept))
            checks.append(check_accounting(new_model, kept, actions))
        else:
            made = f"; {len(actions)} variable(s) are the ones Keras's quantization made" if actions else ""
            checks.append(CheckResult(kind="kept-weights", name="kept weights", status="passed", detail=f"in place: no weight was copied{made}"))
        drifts: list[Drift] = []
        if probe is not None and after is not None:
            step(next(steps))
            drifts = drift(probe.before, after)
            checks += self._located(check_expectations(drifts, self.expects), original, new_model, probe.x)
        if reloading and self.release is not None and probe is not None and after is not None:
            step(next(steps))
            # Freed only when nothing has failed: a failed rewrite leaves the original usable.
            passed = all(c.status != "failed" for c in checks)
            checks += self._reload(new_model, probe, after, self.release if passed else None)
        return checks, drifts

    def _reload(self, new_model: Any, probe: Probe, after: Outputs, release: Callable[[], None] | None) -> list[CheckResult]:
        """The .keras save and reload: the round trip, the outputs, the changes kept."""
        save_load, round_trip, loaded, self.saved = save_and_reload(new_model, probe.x, after, self.custom_objects, self.safe_mode, release)
        if release is not None:
            self.reloaded = loaded
        kept_changes = self._kept(new_model, loaded, "a .keras save and reload")
        if self.in_memory and self.lost_on_save and save_load.status == "failed":
            # The reload differs because it lost what the report lists: kept in memory, as asked.
            detail = f"in memory only (in_memory=True): {save_load.detail}, by the changes a save would lose"
            save_load = save_load.model_copy(update={"status": "skipped", "detail": detail})
        return [round_trip, save_load, *kept_changes]

    def _kept(self, new_model: Any, rebuilt: Any | None, how: str) -> list[CheckResult]:
        """The changes read back on the rebuilt model (or, without one, on each changed layer rebuilt)."""
        if rebuilt is not None:
            check, self.lost_on_save = check_kept(self.changes, new_model, rebuilt, how, self.in_memory)
        else:
            check, self.lost_on_save = check_kept_by_layer(self.changes, new_model, self.in_memory)
        return [check] if check is not None else []

    def _located(self, checks: list[CheckResult], original: Any, new_model: Any, x: Any) -> list[CheckResult]:
        """A failed `expect outputs equal` says which layer's output moved first."""
        equal = [e.expect for e in self.expects if e.expect.outcome == "equal"]
        if not equal:
            return checks
        out = []
        for check in checks:
            if check.status == "failed" and check.kind == "expect-equal":
                where = locate_divergence(original, new_model, x, min(e.atol for e in equal))
                if where:
                    check = check.model_copy(update={"detail": f"{check.detail}; {where}"})
            out.append(check)
        return out
