"""Net2WiderNet weights: the grown layer's copies and its consumers' rows, so the function is kept."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any
import numpy as np
from rewrite.errors import PlanError
from rewrite.graphview.view import GraphView, LayerInfo
from rewrite.planner.widening import Widening


def _arr(var: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(var.value))


def widen_weights(w: Widening, path: str, pairs: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """Assign the widened values to the new variables; return the pairs it set."""
    done = []
    for key, a, b in pairs:
        old = _arr(a)
        if tuple(old.shape) == tuple(b.shape):
            continue
        if path == w.layer:
            value = np.take(old, w.mapping, axis=-1)  # kernel's output axis, bias
        elif path in w.per_unit:
            axis = -2 if old.ndim > 1 else -1  # a depthwise kernel's channel axis, or per-unit vectors
            value = np.take(old, w.mapping, axis=axis)
        elif path in w.consumers:
            axis = 0 if old.ndim == 2 else old.ndim - 2  # Dense rows, or a kernel's input-channel axis
            shape = [1] * old.ndim
            shape[axis] = len(w.mapping)
            value = np.take(old, w.mapping, axis=axis) / w.counts[w.mapping].reshape(shape)
        else:
            continue
        if tuple(value.shape) != tuple(b.shape):
            raise PlanError(f"widening: `{path}/{key}` came out as {value.shape}, the layer needs {tuple(b.shape)}")
        b.assign(value.astype(old.dtype))
        done.append((key, a, b))
    return done
