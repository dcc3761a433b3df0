"""In-place mode: set fields on the existing layer objects, for a quick experiment.

Only fields that change no weight shape are allowed. The model's traced
predict/train/test functions are dropped so the change shows on the next call.
A change is refused, with a pointer to clone mode, where it would not show (a
composite layer whose sublayers were built with the old value) or where the saved
model would disagree with the one in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from rewrite import _keras_private as keras_private
from rewrite.planner.plan import Plan
from rewrite.errors import InplaceError
from rewrite.graphview.view import GraphView
from rewrite.lang.expressions import equal

# Fields that change behaviour but never a weight's shape.
INPLACE_FIELDS = {
    "activation",
    "rate",
    "dropout",
    "recurrent_dropout",
    "trainable",
    "momentum",
    "epsilon",
    "negative_slope",
    "max_value",
    "threshold",
    "stddev",
    "noise_shape",
    "seed",
    "lora_rank",
    "lora_alpha",
}

_CLONE_HINT = "use mode='clone' (CLI: --mode clone), which rebuilds the layer from its config"


def _setter(layer: Any, field: str, value: Any) -> None:
    if field == "lora_rank":
        if getattr(layer, "lora_enabled", False):
            raise InplaceError(
                f"layer `{layer.name}` has LoRA of rank {layer.lora_rank} already; Keras cannot change the rank of "
                "built adapters: merge them first (`replace ... with merge_lora`) or rewrite in clone mode"
            )
        layer.enable_lora(int(value))
    elif field == "activation":
        layer.activation = keras.activations.get(value)
    elif field == "trainable":
        keras_private.set_trainable(layer, bool(value))
    else:
        setattr(layer, field, value)


def _refusal(path: str, layer: Any, field: str) -> str | None:
    if field not in INPLACE_FIELDS:
        return (
            f"layer `{path}`: in-place mode does not set `{field}` (it may change weight shapes or how the "
            f"layer was built); {_CLONE_HINT}"
        )
    if field == "trainable":
        return None
    if field.startswith("lora_") and not hasattr(layer, "enable_lora"):
        return f"layer `{path}` ({type(layer).__name__}) takes no LoRA adapters; Dense, EinsumDense and Embedding do"
    if isinstance(layer, keras.Model):
        return f"layer `{path}` is a nested model; in place, only `trainable` can be set on it; {_CLONE_HINT}"
    if keras_private.sublayers(layer):
        return (
            f"layer `{path}` ({type(layer).__name__}) is built from sublayers that were built with the old "
            f"`{field}`; setting it in place would not change them; {_CLONE_HINT}"
        )
    if not hasattr(layer, field):
        return f"layer `{path}` keeps `{field}` only in its config, not as an attribute; {_CLONE_HINT}"
    return None


def apply_inplace(view: GraphView, plan: Plan) -> tuple[list[str], Callable[[], None]]:
    """Set the plan's fields on the layers of `view.model`.

    Returns notes for the report and a function that puts every field back.
    """
    edits = [(path, edit.info.layer, f, v) for path, edit in plan.edits.items() for f, v in edit.overrides.items()]
    for path, layer, f, _ in edits:
        refusal = _refusal(path, layer, f)
        if refusal:
            raise InplaceError(refusal)
    done: list[tuple[Any, str, Any]] = []
    # Whether get_config() reads the field back from the attribute is a property of the
    # class: for Keras's own classes one layer per class and field answers for all of them.
    verified: set[tuple[type, str]] = set()
    try:
        for path, layer, f, value in edits:
            before = layer.trainable if f == "trainable" else getattr(layer, f)
            _setter(layer, f, value)
            done.append((layer, f, before))
            if (type(layer), f) in verified:
                continue
            saved = layer.get_config().get(f)
            if not equal(f, saved, value):
                raise InplaceError(
                    f"layer `{path}`: after setting `{f}` in place its config still says {saved!r}, so a saved "
                    f"model would not match memory; {_CLONE_HINT}"
                )
            if type(layer).__module__.startswith("keras.src."):
                verified.add((type(layer), f))
    except Exception:
        _undo(done)
        raise
    models = [view.model] + [info.layer for info in view.layers.values() if info.is_model]
    reset = set()
    for m in models:
        reset.update(keras_private.reset_compiled_functions(m))
    notes = [f"{len(edits)} field(s) set in place on the input model"]
    if reset:
        notes.append(f"dropped traced functions so the change shows: {', '.join(sorted(reset))}")

    def undo() -> None:
        _undo(done)
        for m in models:
            keras_private.reset_compiled_functions(m)

    return notes, undo


def _undo(done: list[tuple[Any, str, Any]]) -> None:
    for layer, f, before in reversed(done):
        if f == "trainable":
            keras_private.set_trainable(layer, before)
        elif f == "lora_rank":
            keras_private.disable_lora(layer)
        else:
            setattr(layer, f, before)
