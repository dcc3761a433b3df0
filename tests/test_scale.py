"""Deep graphs: Keras walks a functional graph recursively, one Python frame per layer on a path."""

from __future__ import annotations

import inspect
import sys

import keras
import numpy as np

import rewrite


def _chain(n: int) -> keras.Model:
    x = inputs = keras.Input((3,), name="x")
    for i in range(n):
        x = keras.layers.Dense(3, activation="relu", name=f"d{i}")(x)
    return keras.Model(inputs, x, name="chain")


def test_rewrite_raises_the_recursion_limit_for_its_own_passes_and_restores_it():
    model = _chain(120)
    rewrite.apply(_chain(2), "Dense.activation := tanh")  # every module imported at the usual limit
    limit = sys.getrecursionlimit()
    # Too low for Keras to clone, save or load this chain, as for a 3,000-layer model at
    # Python's default limit of 1,000.
    sys.setrecursionlimit(len(inspect.stack()) + 60)
    try:
        low = sys.getrecursionlimit()
        result = rewrite.apply(model, "Dense[name = \"d7\"].activation := tanh", validate="full")
        assert sys.getrecursionlimit() == low
    finally:
        sys.setrecursionlimit(limit)
    assert result.report.passed
    assert result.model.get_layer("d7").get_config()["activation"] == "tanh"
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(result.model.get_layer("d0").kernel.numpy(), model.get_layer("d0").kernel.numpy())
    assert result.model(x).shape == (2, 3)


def test_inplace_checks_each_class_once_and_every_layer_changes():
    model = _chain(30)
    result = rewrite.apply(model, "Dense.activation := tanh", mode="inplace", validate="none")
    assert len(result.report.changes) == 30
    assert all(layer.get_config()["activation"] == "tanh" for layer in model.layers[1:])
