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
from rewrite.lang.expressions import show
from rewrite.lang.params import ParamSpace

_NATIVE = (str, int, float, bool)


def _kt_native(values: tuple[Any, ...]) -> bool:
    """KerasTuner's Choice and Fixed take one type of str, int, float or bool."""
    kinds = {type(v) for v in values}
    return len(kinds) == 1 and kinds.pop() in _NATIVE


def _texts(values: tuple[Any, ...]) -> dict[str, Any]:
    """Each value by the text KerasTuner records for it: `(3, 3)`, `None`, `2.5`."""
    texts = {show(v): v for v in values}
    if len(texts) != len(values):  # two values written alike ("2" and 2): number them
        texts = {f"{i}: {show(v)}": v for i, v in enumerate(values)}
    return texts


def declare(hp: Any, spaces: dict[str, ParamSpace]) -> dict[str, Any]:
    """Declare each param on `hp` (Choice, Int, Float or Fixed) and return the trial's values.

    Choices KerasTuner cannot hold as they are (tuples, None, ints mixed with
    floats) are declared by their text, `(3, 3)`; the values returned are the
    rule set's own. `decode` turns recorded hyperparameters back the same way.
    """
    values = {}
    for name, s in spaces.items():
        if s.kind == "choice" and _kt_native(s.values):
            values[name] = hp.Choice(name, list(s.values), default=s.default)
        elif s.kind == "choice":
            texts = _texts(s.values)
            default = next(t for t, v in texts.items() if v == s.default and type(v) is type(s.default))
            values[name] = texts[hp.Choice(name, list(texts), default=default)]
        elif s.kind == "int":
            values[name] = hp.Int(name, int(s.low or 0), int(s.high or 0), step=int(s.step or 1), default=s.default)
        elif s.kind == "float":
            values[name] = hp.Float(name, float(s.low or 0), float(s.high or 0), step=s.step, default=float(s.default))
        elif _kt_native((s.default,)):
            values[name] = hp.Fixed(name, s.default)
        else:
            hp.Fixed(name, show(s.default))
            values[name] = s.default
    return values


def decode(spaces: dict[str, ParamSpace], recorded: dict[str, Any]) -> dict[str, Any]:
    """The rule set's values for hyperparameters KerasTuner recorded (a best trial's
    `hp.values`): choices declared by their text become values again."""
    out = dict(recorded)
    for name, s in spaces.items():
        if name not in recorded:
            continue
        if s.kind == "choice" and not _kt_native(s.values):
            out[name] = _texts(s.values)[recorded[name]]
        elif s.kind == "fixed" and not _kt_native((s.default,)):
            out[name] = s.default
    return out


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
