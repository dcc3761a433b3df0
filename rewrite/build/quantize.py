"""Quantization as the plan decided it: Keras's own `layer.quantize(mode)`, after the weights are in.

Keras computes the integer kernel and its scale from the layer's float kernel, so the
layer must hold its trained weights first: in clone mode that is after the weight
transfer, in place it is the model's own layer. The float kernel a quantization
replaces is no longer a kept weight; the variables Keras creates are reported as
`quantized`, with the bytes the quantized layers held before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from rewrite import _keras_private as keras_private
from rewrite.errors import PlanError, root_cause
from rewrite.planner.plan import Plan
from rewrite.report.data import WeightAction


def weight_bytes(variables: Sequence[Any]) -> int:
    """Bytes `variables` hold as stored (int4 values packed two to a byte, as Keras keeps them)."""
    return sum(int(np.prod(v.shape)) * _item_size(v.dtype) for v in variables)


def _item_size(dtype: Any) -> int:
    name = keras.backend.standardize_dtype(dtype)
    if name == "bfloat16":
        return 2
    if name.startswith("float8"):
        return 1
    return int(np.dtype(name).itemsize)


def _quantize(path: str, layer: Any, mode: str) -> None:
    try:
        layer.quantize(mode)
    except Exception as exc:  # a custom class's own quantize: its failure, said with the layer
        raise PlanError(
            f"layer `{path}` ({type(layer).__name__}): Keras's `quantize({mode!r})` failed: {root_cause(exc)}; "
            "leave this layer out of the `quantize` selector"
        ) from exc


def quantize_layers(
    targets: list[tuple[str, Any, str]], actions: list[WeightAction], first: Callable[[Any], None] | None = None
) -> tuple[set[int], str]:
    """Quantize each (path, layer, mode); report the variables Keras created.

    `first(layer)` runs before each layer is quantized. Returns the ids of the
    variables the quantization replaced and a note with the quantized layers'
    weight bytes before and after.
    """
    replaced: set[int] = set()
    before = after = 0
    with keras_private.one_collection():
        for path, layer, mode in targets:
            if first is not None:
                first(layer)
            old = list(layer.weights)
            _quantize(path, layer, mode)
            new = list(layer.weights)
            before, after = before + weight_bytes(old), after + weight_bytes(new)
            old_ids, new_ids = {id(v) for v in old}, {id(v) for v in new}
            replaced |= old_ids - new_ids
            old_shapes = {v.name: list(v.shape) for v in old}
            actions += [
                WeightAction(layer=path, weight=v.path, action="quantized", old_shape=old_shapes.get(v.name), new_shape=list(v.shape))
                for v in new
                if id(v) not in old_ids
            ]
    modes = ", ".join(sorted({m for _, _, m in targets}))
    if not (before and after):
        ratio = ""
    elif after < before:
        ratio = f" ({before / after:.1f}x smaller)"
    else:
        ratio = f" ({after / before:.1f}x larger: Keras's scales outweigh the kernels)"
    note = f"quantized {len(targets)} layer(s) to {modes} with Keras's layer.quantize: their weights {_mb(before)} -> {_mb(after)}{ratio}"
    return replaced, note


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 10_000 else f"{size:,} bytes"


def quantize_clone(plan: Plan, pairs: dict[str, tuple[Any, Any]], added: dict[str, Any], kept: list[tuple[str, Any, Any]], actions: list[WeightAction]) -> list[str]:
    """Clone mode: quantize the built layers the plan marks, once their weights are in.

    Kept pairs whose new variable the quantization replaced leave `kept` (the float
    kernel they copied is now Keras's integer kernel and scale)."""
    targets = []
    for path, edit in plan.edits.items():
        if edit.quantize is None:
            continue
        layer = pairs[path][1] if path in pairs else added.get(path)
        if layer is not None:
            targets.append((path, layer, edit.quantize))
    if not targets:
        return []
    replaced, note = quantize_layers(targets, actions)
    kept[:] = [k for k in kept if id(k[2]) not in replaced]
    return [note]


def quantize_inplace(plan: Plan) -> tuple[list[str], list[WeightAction], Callable[[], None]]:
    """In place: quantize the model's own layers; a function puts them back as they were."""
    targets = [(path, edit.info.layer, edit.quantize) for path, edit in plan.edits.items() if edit.quantize]
    restores: list[Callable[[], None]] = []

    def undo() -> None:
        for restore in reversed(restores):
            restore()

    if not targets:
        return [], [], undo
    actions: list[WeightAction] = []
    try:
        _, note = quantize_layers(targets, actions, first=lambda layer: restores.append(keras_private.saved_state(layer)))
    except BaseException:
        undo()
        raise
    return [note], actions, undo
