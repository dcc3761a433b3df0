"""CALLs of rule files (`Dropout(0.2)`, `Bidirectional`) turned into layer instances.

Layers are created unbuilt at plan time, so later statements can match them and
the plan can be applied more than once; materializing rebuilds each from its
config.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import keras

from rewrite.errors import PlanError
from rewrite.lang import ast
from rewrite.lang.expressions import EvalError, evaluate
from rewrite.planner.plan import plan_error


def snake(name: str) -> str:
    """`BatchNormalization` -> `batch_normalization`, for derived layer names."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


def layer_class(name: str, custom_objects: Mapping[str, Any] | None = None) -> type:
    """A layer class by name: keras.layers, then custom objects, then Keras's registry."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    cls = getattr(keras.layers, name, None)
    if isinstance(cls, type) and issubclass(cls, keras.layers.Layer):
        return cls
    for key, obj in keras.saving.get_custom_objects().items():
        if key == name or key.endswith(f">{name}"):
            return obj
    raise PlanError(
        f"`{name}` is neither a Keras layer class nor a registered transform; register a custom layer with "
        "@keras.saving.register_keras_serializable() or a transform with @rewrite.transform(name)"
    )


def arguments(
    call: ast.Call, at: ast.AnyStatement, params: Mapping[str, Any], field: Callable[[str], Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Evaluate a CALL's arguments; `field` reads `@name` (and `@capture.name`)."""
    try:
        args = [evaluate(a, params, field) for a in call.args]
        kwargs = {k: evaluate(v, params, field) for k, v in call.kwargs}
    except EvalError as exc:
        raise plan_error(at, f"`{call.text()}`: {exc}") from None
    return args, kwargs


def instantiate(cls: type, args: list[Any], kwargs: dict[str, Any], at: ast.AnyStatement, text: str) -> Any:
    try:
        return cls(*args, **kwargs)
    except Exception as exc:
        raise plan_error(at, f"cannot create `{text}`: {type(exc).__name__}: {exc}") from None


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base_2`, `base_3`... whichever is free; the result is taken."""
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name
