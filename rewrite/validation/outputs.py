"""Outputs and logits on the probe batch, and how far they moved (drift)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import numpy as np

from rewrite import _keras_private as keras_private
from rewrite.lang.catalog import canonical_activation
from rewrite.report.data import Drift
from rewrite.validation.probe import graph_model

SQUASHING = {"softmax", "sigmoid", "log_softmax"}


@dataclass
class Outputs:
    """Named final outputs and logits of one model on the probe batch."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    logits: dict[str, np.ndarray] = field(default_factory=dict)


def _output_names(model: Any) -> list[str]:
    struct = keras_private.output_structure(model)
    if isinstance(struct, dict):
        return ["/".join(str(p) for p in path) for path, _ in keras.tree.flatten_with_path(struct)]
    names = []
    for t in keras.tree.flatten(model.outputs):
        history = keras_private.tensor_history(t)
        if history is None:
            names.append("output")
            continue
        op, _, index = history
        names.append(op.name if index == 0 else f"{op.name}:{index}")
    return names


def _to_numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def compute(model: Any, x: Any) -> Outputs:
    """Outputs and logits of `model` on `x` (inference mode).

    A subclassed model has no graph to tap: its outputs stand for its logits too.
    """
    if not keras_private.is_functional(model) and not isinstance(model, keras.Sequential):
        values = [_to_numpy(v) for v in keras.tree.flatten(model(x, training=False))]
        named = {("output" if len(values) == 1 else f"output:{i}"): v for i, v in enumerate(values)}
        return Outputs(outputs=named, logits=dict(named))
    model = graph_model(model)
    flat_outputs = keras.tree.flatten(model.outputs)
    names = _output_names(model)
    taps: list[Any] = []
    linear_twins: list[Any] = []
    for t in flat_outputs:
        history = keras_private.tensor_history(t)
        op = history[0] if history else None
        tap, twin = None, None
        if isinstance(op, keras.layers.Layer) and not isinstance(op, keras.Model):
            inputs = keras_private.producer_inputs(t)
            act = canonical_activation(op.get_config().get("activation")) if hasattr(op, "activation") else None
            if isinstance(op, (keras.layers.Activation, keras.layers.Softmax)) and (
                isinstance(op, keras.layers.Softmax) or act in SQUASHING
            ):
                tap = inputs[0]
            elif act in SQUASHING and len(inputs) == 1:
                tap, twin = inputs[0], op
        taps.append(tap)
        linear_twins.append(twin)
    real_taps = [t for t in taps if t is not None]
    if real_taps:
        tap_model = keras.Model(model.input, list(flat_outputs) + real_taps)
        values = tap_model(x, training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
    else:
        values = model(x, training=False)
        values = keras.tree.flatten(values)
    values = [_to_numpy(v) for v in values]
    result = Outputs()
    for name, v in zip(names, values[: len(flat_outputs)]):
        result.outputs[name] = v
    tapped = iter(values[len(flat_outputs) :])
    for name, tap, twin, out in zip(names, taps, linear_twins, values):
        if tap is None:
            result.logits[name] = out
            continue
        pre = next(tapped)
        if twin is not None:
            pre = _pre_activation(twin, pre)
        result.logits[name] = pre
    return result


def _pre_activation(layer: Any, x: np.ndarray) -> np.ndarray:
    """`layer` applied to `x` with its activation replaced by linear (a twin; `layer` is untouched)."""
    config = dict(layer.get_config(), activation="linear")
    twin = type(layer).from_config(config)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    return _to_numpy(twin(x))


def max_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if a.shape != b.shape:
        return float("inf"), float("inf")
    if a.dtype.kind not in "fiub":
        same = bool(np.all(a == b))
        return (0.0, 0.0) if same else (float("inf"), float("inf"))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    # NaN-safe: Python's max() drops a nan, so a non-finite value where the other side
    # is finite (or a different one: inf against nan) is an infinite difference.
    finite_a, finite_b = np.isfinite(a64), np.isfinite(b64)
    if not np.array_equal(finite_a, finite_b):
        return float("inf"), float("inf")
    odd = ~finite_a
    if odd.any() and not np.array_equal(a64[odd], b64[odd], equal_nan=True):
        return float("inf"), float("inf")
    both = finite_a & finite_b
    diff = float(np.max(np.abs(a64[both] - b64[both]))) if both.any() else 0.0
    scale = float(np.max(np.abs(a64[both]))) if both.any() else 0.0
    return diff, diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def drift(before: Outputs, after: Outputs) -> list[Drift]:
    out = []
    pairs: tuple[tuple[Literal["output", "logits"], dict, dict], ...] = (
        ("output", before.outputs, after.outputs),
        ("logits", before.logits, after.logits),
    )
    for kind, left, right in pairs:
        for name, a in left.items():
            b = right.get(name)
            if b is None and len(left) == len(right) == 1:
                b = next(iter(right.values()))
            if b is None:
                continue
            if kind == "logits" and name in before.outputs and before.outputs[name] is a and after.outputs.get(name) is b:
                continue  # no softmax in front: the logits are the outputs
            abs_, rel = max_diff(a, b)
            out.append(Drift(output=name, kind=kind, max_abs=abs_, max_rel=rel))
    return out


def locate_divergence(original: Any, rewritten: Any, x: Any, atol: float) -> str | None:
    """The first layer (in the original's order) whose output moved by more than atol."""
    a, b = graph_model(original), graph_model(rewritten)
    names = [layer.name for layer in a.layers if not isinstance(layer, keras.layers.InputLayer)]
    other = {layer.name for layer in b.layers}
    names = [n for n in names if n in other]
    try:
        taps_a = keras.Model(a.input, [a.get_layer(n).output for n in names])
        taps_b = keras.Model(b.input, [b.get_layer(n).output for n in names])
        out_a, out_b = taps_a(x, training=False), taps_b(x, training=False)
    except Exception:  # a layer without a single output: no per-layer answer
        return None
    for name, u, v in zip(names, out_a, out_b):
        diff = max_diff(_to_numpy(u), _to_numpy(v))[0]
        if diff > atol:
            return f"first layer whose output moved: `{name}` (max abs {diff:.3g})"
    return None


def evaluate_both(original: Any, rewritten: Any, data: tuple[Any, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Evaluate both models with the compiled loss and metrics on the user's (x, y)."""
    x, y = data
    for m, which in ((original, "original"), (rewritten, "rewritten")):
        if not getattr(m, "compiled", False):
            raise ValueError(f"evaluate=(x, y) needs a compiled model; the {which} model is not compiled. Compile the input model first")
    a = original.evaluate(x, y, verbose=0, return_dict=True)
    b = rewritten.evaluate(x, y, verbose=0, return_dict=True)
    return {k: float(v) for k, v in a.items()}, {k: float(v) for k, v in b.items()}
