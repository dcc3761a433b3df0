"""`quantize SELECTOR MODE` on the plan: which matched layers Keras can quantize, and why not.

The plan records the mode per layer; the build calls Keras's own `layer.quantize(mode)`
on the layer once its trained weights are in place (clone mode), or on the model's
own layer (in place), so the integer kernel and its scale are exactly what Keras
computes. A layer Keras would refuse is a near miss with Keras's reason.
"""

from __future__ import annotations

from typing import Any

import keras

from rewrite.graphview.view import GraphView, LayerInfo
from rewrite.lang import ast
from rewrite.lang.loader import RuleStatement
from rewrite.planner.plan import Plan, StatementOutcome
from rewrite.planner.selection import candidates_for
from rewrite.report.data import FieldChange, Skip

QUANTIZE_FIELD = "quantization_mode"
"""The field a quantization is reported and read back as (Keras's `layer.quantization_mode`)."""

_WEIGHT_ONLY = ("int8", "int4", "float8")
_KERAS_MODES: dict[type, tuple[str, ...]] = {
    keras.layers.Dense: _WEIGHT_ONLY,
    keras.layers.EinsumDense: _WEIGHT_ONLY,
    keras.layers.Embedding: ("int8", "int4"),
    keras.layers.ReversibleEmbedding: ("int8", "int4"),
}
"""The modes Keras's own classes quantize to (float8 is for matrix multiplications only)."""


def _own_quantizer(cls: type) -> type | None:
    """The nearest class in `cls`'s MRO that defines `quantize` (Keras's base Layer does not count)."""
    for klass in cls.__mro__:
        if klass is keras.layers.Layer:
            return None
        if "quantize" in klass.__dict__:
            return klass
    return None


def refusal(layer: Any, mode: str, planned: bool = False) -> str | None:
    """Why Keras's `layer.quantize(mode)` would not quantize `layer`; None when it would.

    A `planned` layer (one the plan adds) is built later, with the model.
    """
    cls = type(layer)
    quantizer = _own_quantizer(cls)
    if quantizer is None:
        sublayers = [s for s in layer._flatten_layers(include_self=False) if _own_quantizer(type(s))]
        if sublayers:
            names = ", ".join(sorted({type(s).__name__ for s in sublayers}))
            return (
                f"{cls.__name__} is built from sublayers; Keras quantizes the ones that compute ({names}): "
                "select those (mode='inplace' reaches sublayers by path)"
            )
        return f"Keras has no quantization for {cls.__name__} (it quantizes Dense, EinsumDense, Embedding and ReversibleEmbedding)"
    if quantizer is not cls and quantizer in _KERAS_MODES:
        return (
            f"{cls.__name__} subclasses {quantizer.__name__} without a `quantize` of its own; Keras quantizes only "
            f"{quantizer.__name__} itself (its type check), so a subclass must define how it is quantized"
        )
    modes = _KERAS_MODES.get(cls)
    if modes is not None and mode not in modes:
        return f"Keras quantizes {cls.__name__} to {' or '.join(modes)}, not {mode}"
    if not layer.built and not planned:
        return "the layer is not built, so it has no weights to quantize yet"
    if mode == "int8" and layer.compute_dtype == "float16":
        return "Keras does not quantize to int8 a layer that computes in float16; set its dtype to float32 or mixed_bfloat16 first"
    return None


def apply_quantize(plan: Plan, view: GraphView, cs: RuleStatement, out: StatementOutcome) -> None:
    stmt = cs.statement
    assert isinstance(stmt, ast.Quantize)
    matched, near = candidates_for(plan, view, stmt.selector)
    for info in matched:
        edit = plan.edits.get(info.key)
        current = (edit.quantize if edit else None) or _quantized(info)
        if current == stmt.mode:
            out.matched.append(info)
            out.skips.append(Skip(layer=info.path, reason=f"already quantized to {current}"))
            continue
        if current:
            near.append((info, f"already quantized to {current}; Keras cannot quantize a layer twice"))
            continue
        why = refusal(info.layer, stmt.mode, planned=info.key in plan.added)
        if why:
            near.append((info, why))
            continue
        out.matched.append(info)
    out.near = near
    for info in out.matched:
        if any(s.layer == info.path for s in out.skips):
            continue
        edit = plan.edit(info)
        edit.quantize = stmt.mode
        edit.note(cs.index, None)
        out.changes.append(FieldChange(layer=info.path, field=QUANTIZE_FIELD, old=None, new=stmt.mode))


def _quantized(info: LayerInfo) -> str | None:
    return getattr(info.layer, "quantization_mode", None) if info.layer is not None else None

