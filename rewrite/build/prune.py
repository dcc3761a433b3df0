"""Pruned weights: each variable of a layer in a pruned channel group is the original's, sliced by the channels kept.

The plan says, per layer, which axis of which variable follows which channels
(a producer's kernel and bias on their last axis, a consumer's kernel on its
input axis, a BatchNormalization's four vectors, a depthwise kernel's channel
axis); the values are taken from the original variable by index, so every kept
channel is bit for bit what it was.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rewrite.errors import PlanError
from rewrite.planner.plan import Plan
from rewrite.report.data import WeightAction


def prune_weights(plan: Plan, path: str, pairs: list[tuple[str, Any, Any]], actions: list[WeightAction]) -> set[int]:
    """Assign the sliced values to the new variables of the layer at `path`; return the ids of those it set."""
    if plan.pruning is None:
        return set()
    cuts = plan.pruning.slices(path)
    if not cuts:
        return set()
    done: set[int] = set()
    for key, a, b in pairs:
        taken = cuts.get(b.name)
        if not taken or tuple(a.shape) == tuple(b.shape):
            continue
        value = np.asarray(keras.ops.convert_to_numpy(a.value))
        for axis, index in taken:
            if value.ndim and value.shape[axis] > 1 and value.shape[axis] != len(index):
                value = np.take(value, index, axis=axis)
        if tuple(value.shape) != tuple(b.shape):
            raise PlanError(f"pruning: `{path}/{key}` came out as {value.shape}, the rebuilt layer needs {tuple(b.shape)}")
        b.assign(value)
        done.add(id(b))
        actions.append(WeightAction(layer=path, weight=key, action="pruned", old_shape=list(a.shape), new_shape=list(b.shape)))
    return done
