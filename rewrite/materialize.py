"""The edit plan turned into a new Keras model in one clone_model pass.

Every layer is rebuilt from its config (with the plan's overrides), nested
Functional and Sequential models recursively, shared layers once. A variable that
will keep its value is created holding that value (the layer's `add_weight` is
given the original variable's value as its initializer during the clone), so it is
neither randomly initialized nor copied a second time; every other variable gets
the layer's real initializer. The layer's config and saved file are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras

from rewrite import _keras_private as kp
from rewrite.graphview import GraphView
from rewrite.planning import Plan


@dataclass
class Materialized:
    model: Any
    pairs: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """path -> (original layer, new layer), nested models included."""
    prefilled: dict[int, Any] = field(default_factory=dict)
    """id(new variable) -> the original variable it was created from."""
    notes: list[str] = field(default_factory=list)


def _initial_value(old: Any) -> Any:
    value = old.value
    if keras.backend.backend() == "torch":
        value = keras.ops.copy(value)  # a torch Parameter would share the storage
    return value


def _prefill(old: Any, new: Any, prefilled: dict[int, Any]) -> None:
    """Make `new.add_weight` start each variable from `old`'s variable of the same name and shape."""
    olds = {v.name: v for v in old.weights}
    if len(olds) != len(old.weights) or not olds:
        return
    create = new.add_weight

    def add_weight(*args: Any, **kwargs: Any) -> Any:
        source = olds.get(kwargs.get("name"))  # type: ignore[arg-type]
        shape = kwargs.get("shape")
        dtype = keras.backend.standardize_dtype(kwargs.get("dtype") or new.variable_dtype)
        if (
            source is not None
            and not args
            and shape is not None
            and tuple(shape) == tuple(source.shape)
            and dtype == keras.backend.standardize_dtype(source.dtype)
        ):
            kwargs["initializer"] = _initial_value(source)
            variable = create(**kwargs)
            prefilled[id(variable)] = source
            return variable
        return create(*args, **kwargs)

    new.add_weight = add_weight


def _clone_lambda(layer: keras.layers.Lambda, overrides: dict[str, Any]) -> keras.layers.Lambda:
    # from_config would deserialize the function's bytecode, which safe mode refuses;
    # the function object is already in memory, so reuse it.
    return keras.layers.Lambda(
        layer.function,
        output_shape=kp.lambda_output_shape(layer),
        mask=layer.mask,
        arguments=dict(layer.arguments),
        name=overrides.get("name", layer.name),
        trainable=overrides.get("trainable", layer.trainable),
        dtype=layer.dtype_policy,
    )


def materialize(view: GraphView, plan: Plan, prefill: bool = True) -> Materialized:
    """Build the rewritten model. The original model is only read."""
    paths = {id(info.layer): path for path, info in view.layers.items() if info.owner is None}
    prefilled: dict[int, Any] = {}
    hooked: list[Any] = []
    held: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for edit in plan.edits.values():
        if edit.info.owner is not None and edit.info.owner_key is not None:
            held.setdefault(edit.info.owner, []).append((edit.info.owner_key, edit.overrides))

    def clone_function(layer: Any) -> Any:
        if not isinstance(layer, keras.layers.Layer):
            try:  # a raw keras.ops operation: stateless, rebuilt from its config
                return layer.__class__.from_config(layer.get_config())
            except Exception:
                return layer
        path = paths.get(id(layer))
        overrides = plan.overrides(path) if path else {}
        if isinstance(layer, keras.layers.Lambda):
            return _clone_lambda(layer, overrides)
        config = layer.get_config()
        config.update(overrides)
        for key, inner in held.get(path or "", []):
            config[key] = dict(config[key], config=dict(config[key]["config"], **inner))
        new = layer.__class__.from_config(config)
        # Only for layers that own all their variables: a composite's sublayers
        # create theirs through their own add_weight.
        if prefill and layer.weights and not kp.sublayers(layer) and not new.built:
            _prefill(layer, new, prefilled)
            hooked.append(new)
        return new

    try:
        new_model, cache = kp.clone_with_cache(view.model, clone_function)
    finally:
        for new in hooked:
            if "add_weight" in vars(new):
                del new.add_weight

    result = Materialized(new_model, prefilled=prefilled)
    for path, info in view.layers.items():
        if info.owner is not None:
            continue  # held by a wrapper: its weights travel with the wrapper's
        new = cache.get(id(info.layer))
        if new is not None:
            result.pairs[path] = (info.layer, new)
    _restore_model_flags(view, plan, result)
    if type(new_model) is not type(view.model):
        result.notes.append(
            f"the model was a {type(view.model).__name__}; it comes back as {type(new_model).__name__} "
            "(a Functional subclass whose constructor does not take (inputs, outputs) cannot be rebuilt as itself)"
        )
    return result


def _restore_model_flags(view: GraphView, plan: Plan, result: Materialized) -> None:
    """clone_model drops a Functional's `trainable` flag; nested models get plan edits here."""
    pairs = [("", view.model, result.model)] + [
        (path, old, new) for path, (old, new) in result.pairs.items() if isinstance(old, keras.Model)
    ]
    for path, old, new in pairs:
        overrides = plan.overrides(path) if path else {}
        trainable = overrides.get("trainable", old.trainable)
        if new.trainable != trainable:
            new.trainable = trainable
        if "name" in overrides:
            new.name = overrides["name"]
