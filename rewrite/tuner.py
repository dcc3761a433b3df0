"""KerasTuner integration: a rule set's params as a KerasTuner search space.

    hypermodel = RewriteHyperModel(base_model, rewrite.load("search.rw"))
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_loss", max_trials=10)
    tuner.search(x, y, validation_data=(xv, yv), epochs=2)

Each trial rewrites the trained base model with the trial's values (every weight
that still fits is kept) and returns it compiled, so any tuner (RandomSearch,
BayesianOptimization, Hyperband) searches the space, and KerasTuner's own
distributed mode (a chief and workers, set up by its environment variables) runs
trials on many machines. Needs the `tuner` extra: `pip install keras-rewrite[tuner]`.
"""

from __future__ import annotations

from typing import Any

import keras_tuner

from rewrite.search import ParamSpace


def declare(hp: Any, spaces: dict[str, ParamSpace]) -> dict[str, Any]:
    """Declare each param on `hp` (Choice, Int, Float or Fixed) and return the trial's values."""
    values = {}
    for name, s in spaces.items():
        if s.kind == "choice":
            values[name] = hp.Choice(name, list(s.values), default=s.default)
        elif s.kind == "int":
            values[name] = hp.Int(name, int(s.low or 0), int(s.high or 0), step=int(s.step or 1), default=s.default)
        elif s.kind == "float":
            values[name] = hp.Float(name, float(s.low or 0), float(s.high or 0), step=s.step, default=float(s.default))
        else:
            values[name] = hp.Fixed(name, s.default)
    return values


class RewriteHyperModel(keras_tuner.HyperModel):
    """A HyperModel that builds each trial's model by rewriting a base model.

    Each trial declares the rule set's params on KerasTuner's `hp`, rewrites the
    base model with the values drawn (weights that still fit are kept), and
    returns it compiled like the base model, or with `compile_kwargs`.

    Args:
        base_model: The model every trial starts from; it is never changed.
        rules: A [`RuleSet`][rewrite.RuleSet] with `param` declarations.
        compile_kwargs: Arguments of `model.compile` for every trial; needed when
            the base model is not compiled.
        validate: The validation level of each rewrite (`"config"` by default:
            the trial's own training is the real test).
        **kwargs: Passed to `keras_tuner.HyperModel`.
    """

    def __init__(
        self,
        base_model: Any,
        rules: Any,
        compile_kwargs: dict[str, Any] | None = None,
        validate: str = "config",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.base_model = base_model
        self.rules = rules
        self.compile_kwargs = compile_kwargs
        self.validate = validate
        self.spaces = rules.space()
        if compile_kwargs is None and not getattr(base_model, "compiled", False):
            raise ValueError(
                "RewriteHyperModel needs a compiled base model (each variant comes back compiled the same way) "
                "or compile_kwargs=dict(optimizer=..., loss=..., metrics=...)"
            )

    def build(self, hp: Any) -> Any:
        from rewrite.engine import Prepared

        if getattr(self, "_prepared", None) is None:
            self._prepared = Prepared.of(self.base_model)
        params = declare(hp, self.spaces)
        result = self.rules.apply(self.base_model, params=params, validate=self.validate, prepared=self._prepared)
        model = result.model
        if self.compile_kwargs is not None:
            model.compile(**self.compile_kwargs)
        return model
