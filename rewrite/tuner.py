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

from rewrite.engine import ModelCache
from rewrite.lang.encoding import decode as decode_values
from rewrite.lang.encoding import options as declared
from rewrite.lang.params import ParamSpace


def declare(hp: Any, spaces: dict[str, ParamSpace]) -> dict[str, Any]:
    """Declare each param on `hp` (Choice, Int, Float or Fixed) and return the trial's values.

    Choices KerasTuner cannot hold as they are (tuples, None, ints mixed with
    floats) are declared by their text, `(3, 3)`; the values returned are the
    rule set's own (`rewrite.lang.encoding`, shared with the Optuna bridge).
    `decode` turns recorded hyperparameters back the same way.
    """
    drawn = {}
    for name, s in spaces.items():
        if s.kind in ("choice", "fixed"):
            choices, default = declared(s)
            drawn[name] = hp.Choice(name, choices, default=default) if s.kind == "choice" else hp.Fixed(name, default)
        elif s.kind == "int":
            drawn[name] = hp.Int(name, int(s.low or 0), int(s.high or 0), step=int(s.step or 1), default=s.default)
        else:
            drawn[name] = hp.Float(name, float(s.low or 0), float(s.high or 0), step=s.step, default=float(s.default))
    return decode_values(spaces, drawn)


def decode(spaces: dict[str, ParamSpace], recorded: dict[str, Any]) -> dict[str, Any]:
    """The rule set's values for hyperparameters KerasTuner recorded (a best trial's
    `hp.values`): choices declared by their text become values again."""
    return decode_values(spaces, recorded)


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
        if getattr(self, "_cache", None) is None:
            self._cache = ModelCache.of(self.base_model)
        params = declare(hp, self.spaces)
        result = self.rules.apply(self.base_model, params=params, validate=self.validate, cache=self._cache)
        model = result.model
        if self.compile_kwargs is not None:
            model.compile(**self.compile_kwargs)
        return model
