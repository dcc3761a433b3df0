"""Ray Tune: a rule set's params as a `param_space`, and a trainable that rewrites.

    from ray import tune
    from rewrite.search.ray import param_space, trainable

    tuner = tune.Tuner(
        trainable(load_base, "search.rw", score),     # each trial: load, rewrite, score
        param_space=param_space(rules),
        tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=8),
    )
    best = tuner.fit().get_best_result().config       # the rule set's own values

Ray's search spaces hold any Python value, so choices go in as they are (tuples,
None); integer ranges with a step are `qrandint`, float ranges `uniform` (or
`quniform` with a step), a fixed param is its value. Trials run in Ray's worker
processes: the trainable gets a function that loads (or builds) the base model
and the rule file's path, not the objects, so nothing large is pickled; each
worker loads the model once and keeps a `ModelCache` of it. Needs the `ray` extra:
`pip install "keras-rewrite[ray]"`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def param_space(rules: Any) -> dict[str, Any]:
    """`rules`' params as Ray Tune search spaces (`tune.choice`, `qrandint`, `uniform`, ...)."""
    from ray import tune  # the `ray` extra: imported when a space is made

    out: dict[str, Any] = {}
    for name, s in rules.space().items():
        if s.kind == "fixed":
            out[name] = s.default
        elif s.kind == "choice":
            out[name] = tune.choice(list(s.values))
        elif s.kind == "int":
            out[name] = tune.qrandint(int(s.low), int(s.high), q=int(s.step or 1))
        elif s.step is not None:
            out[name] = tune.quniform(float(s.low), float(s.high), float(s.step))
        else:
            out[name] = tune.uniform(float(s.low), float(s.high))
    return out


def trainable(
    load_model: Callable[[], Any],
    rules: str | Path,
    score: Callable[[Any], float],
    validate: str = "config",
    **options: Any,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A Ray Tune function trainable: each trial rewrites the base model with its config.

    `load_model()` gives the base model (called once per worker process, in the
    trial's own folder: give it an absolute path); `rules` is the rule file's path
    (made absolute here) or `keras-rewrite:std/NAME.rw`;
    `score(model)` trains and evaluates the trial's model. The trial reports
    `score`, `passed` and `signature`; the config holds the rule set's values.
    """
    # Trials run in folders of their own: a relative path is made absolute here, where it was meant.
    rules_path = str(rules) if str(rules).startswith("keras-rewrite:") else str(Path(rules).resolve())
    held: dict[str, Any] = {}

    def run(config: dict[str, Any]) -> dict[str, Any]:
        import rewrite  # in the worker process
        from rewrite.engine import ModelCache  # imports Keras, in the worker

        if "model" not in held:
            held["model"] = load_model()
            held["rules"] = rewrite.load(rules_path)
            held["cache"] = ModelCache.of(held["model"])
        ruleset = held["rules"]
        params = {k: v for k, v in config.items() if k in ruleset.params}
        result = ruleset.apply(held["model"], params=params, validate=validate, cache=held["cache"], **options)
        return {"score": float(score(result.model)), "passed": result.report.passed, "signature": result.report.signature}

    return run


__all__ = ["param_space", "trainable"]
