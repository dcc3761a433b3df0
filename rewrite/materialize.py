"""The edit plan turned into a new Keras model in one clone_model pass.

Every layer is rebuilt from its config (with the plan's overrides), nested
Functional and Sequential models recursively, shared layers once. Variables of
layers whose weights are about to be overwritten are created with a cheap
constant initializer instead of a random one; the real initializers are restored
before anyone sees the model, so its config and saved file are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras

from rewrite import _keras_private as kp
from rewrite.graphview import GraphView
from rewrite.planning import Plan

# Classes whose build() creates variables only from their own initializer
# attributes (no sublayers), so a temporary initializer swap is invisible.
FAST_INIT_CLASSES = {
    "Dense",
    "EinsumDense",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "Embedding",
    "PReLU",
}

_ZEROS = keras.initializers.Zeros()


@dataclass
class Materialized:
    model: Any
    pairs: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """path -> (original layer, new layer), nested models included."""
    fast_init: set[int] = field(default_factory=set)
    """ids of new layers built with placeholder initial values."""
    notes: list[str] = field(default_factory=list)


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


def materialize(view: GraphView, plan: Plan, fast_init: bool = True) -> Materialized:
    """Build the rewritten model. The original model is only read."""
    paths = {id(info.layer): path for path, info in view.layers.items() if info.owner is None}
    held: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for edit in plan.edits.values():
        if edit.info.owner is not None and edit.info.owner_key is not None:
            held.setdefault(edit.info.owner, []).append((edit.info.owner_key, edit.overrides))
    swapped: list[tuple[Any, str, Any]] = []
    fast: set[int] = set()

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
        if fast_init and type(new).__name__ in FAST_INIT_CLASSES and type(new).__module__.startswith("keras."):
            for attr, value in list(vars(new).items()):
                if isinstance(value, keras.initializers.Initializer):
                    swapped.append((new, attr, value))
                    setattr(new, attr, _ZEROS)
            fast.add(id(new))
        return new

    try:
        new_model, cache = kp.clone_with_cache(view.model, clone_function)
    finally:
        for obj, attr, value in swapped:
            setattr(obj, attr, value)

    result = Materialized(new_model, fast_init=fast)
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
