"""Optuna: a rule set's params as `trial.suggest_*` calls, and the values back.

    import optuna
    from rewrite.search.optuna import objective

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective(base, rules, score), n_trials=20)
    best = decode(rules, study.best_params)           # the rule set's own values
    model = rules.apply(base, params=best).model

`suggest(trial, rules)` declares each param (a choice with `suggest_categorical`,
an integer range with `suggest_int`, a float range with `suggest_float`, with
their steps) and returns the trial's values as the rule set's own: a choice
Optuna cannot hold as it is (tuples, ints mixed with floats) is declared by its
text and turned back (`rewrite.lang.encoding`, shared with KerasTuner).
`objective` is the whole recipe: rewrite the base model with the trial's values
(one `ModelCache` for every trial) and return `score(model)`. Needs the `optuna`
extra: `pip install "keras-rewrite[optuna]"`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rewrite.lang.encoding import decode as decode_values
from rewrite.lang.encoding import options as declared

OPTUNA_PLAIN = (str, int, float, bool, type(None))
"""What `suggest_categorical` holds as it is."""


def suggest(trial: Any, rules: Any) -> dict[str, Any]:
    """Declare each of `rules`' params on an Optuna `trial`; the trial's values, decoded."""
    spaces = rules.space()
    drawn: dict[str, Any] = {}
    for name, s in spaces.items():
        if s.kind in ("choice", "fixed"):
            choices, _ = declared(s, OPTUNA_PLAIN)
            drawn[name] = trial.suggest_categorical(name, choices)
        elif s.kind == "int":
            drawn[name] = trial.suggest_int(name, int(s.low), int(s.high), step=int(s.step or 1))
        else:
            drawn[name] = trial.suggest_float(name, float(s.low), float(s.high), step=float(s.step) if s.step is not None else None)
    return decode_values(spaces, drawn, OPTUNA_PLAIN)


def decode(rules: Any, recorded: dict[str, Any]) -> dict[str, Any]:
    """The rule set's values for what Optuna recorded (`study.best_params`, `trial.params`)."""
    return decode_values(rules.space(), recorded, OPTUNA_PLAIN)


def objective(
    base_model: Any, rules: Any, score: Callable[[Any], float], validate: str = "config", **options: Any
) -> Callable[[Any], float]:
    """An Optuna objective: each trial rewrites `base_model` with its values and scores the result.

    `score(model)` trains and evaluates (or only evaluates) the trial's model and
    returns the number the study optimizes. The rewrites share one `ModelCache`;
    `validate` and the other options go to `RuleSet.apply`. Each trial records
    `passed` and `signature` (what its plan builds) as user attributes.
    """
    from rewrite.engine import ModelCache  # imports Keras: when made, not on import

    cache = ModelCache.of(base_model)

    def run(trial: Any) -> float:
        result = rules.apply(base_model, params=suggest(trial, rules), validate=validate, cache=cache, **options)
        trial.set_user_attr("passed", result.report.passed)
        trial.set_user_attr("signature", result.report.signature)
        return float(score(result.model))

    return run


__all__ = ["decode", "objective", "suggest"]
