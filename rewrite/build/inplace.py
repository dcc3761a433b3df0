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
from rewrite.planner.builtin_transforms import merged_lora_weights
from rewrite.planner.plan import Plan
from rewrite.build.quantize import quantize_inplace
from rewrite.build.weights import is_adapter, lora_note, trainable_parameters
from rewrite.errors import InplaceError
from rewrite.graphview.view import GraphView
from rewrite.lang.expressions import equal
from rewrite.report.data import WeightAction

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


def _setter(layer: Any, field: str, value: Any) -> Callable[[], None]:
    """Set `field` on `layer`; return what puts it back."""
    if field == "lora_rank":
        return _set_lora_rank(layer, value)
    before = layer.trainable if field == "trainable" else getattr(layer, field)
    if field == "activation":
        layer.activation = keras.activations.get(value)
    elif field == "trainable":
        keras_private.set_trainable(layer, bool(value))
    else:
        setattr(layer, field, value)
    if field == "trainable":
        return lambda: keras_private.set_trainable(layer, before)
    return lambda: setattr(layer, field, before)


def _set_lora_rank(layer: Any, value: Any) -> Callable[[], None]:
    """Adapters on (`enable_lora`), or merged into the kernel and off (`none`)."""
    if not value:
        merged = merged_lora_weights(layer)
        if merged is None:
            return lambda: None
        restore = keras_private.saved_state(layer)
        base = {v.name: v for v in layer.weights}
        before = {name: base[name].numpy() for name in merged}
        keras_private.disable_lora(layer)
        for name, values in merged.items():
            base[name].assign(values)

        def unmerge() -> None:
            restore()
            for name, values in before.items():
                base[name].assign(values)

        return unmerge
    if getattr(layer, "lora_enabled", False):
        raise InplaceError(
            f"layer `{layer.name}` has LoRA of rank {layer.lora_rank} already; Keras cannot change the rank of "
            "built adapters: merge them first (`lora_rank := none`) or rewrite in clone mode"
        )
    layer.enable_lora(int(value))
    return lambda: keras_private.disable_lora(layer)


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


def apply_inplace(view: GraphView, plan: Plan) -> tuple[list[str], list[WeightAction], Callable[[], None]]:
    """Set the plan's fields on the layers of `view.model`, then quantize the layers it marks.

    Returns notes for the report, the variables quantization created, and a
    function that puts every field and layer back.
    """
    edits = [(path, edit.info.layer, f, v) for path, edit in plan.edits.items() for f, v in edit.overrides.items()]
    for path, layer, f, _ in edits:
        refusal = _refusal(path, layer, f)
        if refusal:
            raise InplaceError(refusal)
    lora = [(path, layer) for path, layer, f, value in edits if f == "lora_rank" and value]
    trainable_before = trainable_parameters(view.model) if lora else 0
    done: list[Callable[[], None]] = []
    # Whether get_config() reads the field back from the attribute is a property of the
    # class: for Keras's own classes one layer per class and field answers for all of them.
    verified: set[tuple[type, str]] = set()
    try:
        for path, layer, f, value in edits:
            done.append(_setter(layer, f, value))
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
        quantized_notes, actions, unquantize = quantize_inplace(plan)
    except Exception:
        _undo(done)
        raise
    models = [view.model] + [info.layer for info in view.layers.values() if info.is_model]
    reset = set()
    for m in models:
        reset.update(keras_private.reset_compiled_functions(m))
    notes = [f"{len(edits)} field(s) set in place on the input model"] if edits else []
    notes += quantized_notes
    if lora:
        adapters = [
            WeightAction(layer=path, weight=v.path, action="adapter", new_shape=list(v.shape))
            for path, layer in lora
            for v in layer.weights
            if is_adapter(v)
        ]
        notes.append(lora_note(adapters, trainable_before, trainable_parameters(view.model)))
    if reset:
        notes.append(f"dropped traced functions so the change shows: {', '.join(sorted(reset))}")

    def undo() -> None:
        unquantize()
        _undo(done)
        for m in models:
            keras_private.reset_compiled_functions(m)

    return notes, actions, undo


def _undo(done: list[Callable[[], None]]) -> None:
    for put_back in reversed(done):
        put_back()
