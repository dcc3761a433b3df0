"""Faults a hostile user or a faulty machine brings: no NaN that passes, no empty probe, no lost input."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.validation.outputs import max_diff


def test_a_rewrite_that_makes_outputs_nan_fails_validation(head_model, probe, tmp_path):
    # A negative epsilon under the square root: every output becomes nan.
    for validate in ("full", "config", "none"):
        options = {"validate": validate, "drift": True} if validate == "none" else {"validate": validate}
        with pytest.raises(rewrite.ValidationFailure, match=r"finite outputs: output `out` has \d+ non-finite value\(s\)") as info:
            rewrite.apply(head_model, "BatchNormalization.epsilon := -1000", **options)
        failed = {c.kind for c in info.value.report.validation if c.status == "failed"}
        assert "finite" in failed
    assert head_model.get_layer("bn").epsilon == pytest.approx(1e-3)


def test_comparisons_are_nan_safe():
    a = np.array([1.0, 2.0, np.nan], "float32")
    assert max_diff(a, np.array([1.0, 2.0, 3.0], "float32"))[0] == float("inf")
    assert max_diff(np.array([1.0, 2.0, 3.0], "float32"), a)[0] == float("inf")
    assert max_diff(a, a.copy()) == (0.0, 0.0)  # the same nan in the same place is the same output
    assert max_diff(np.array([np.inf]), np.array([np.nan]))[0] == float("inf")
    assert max_diff(np.array([1.0, 5.0]), np.array([1.5, 5.0])) == (0.5, 0.1)


@pytest.mark.parametrize("empty", [np.zeros((0, 8), "float32"), np.zeros((4, 0), "float32")])
def test_an_empty_probe_is_refused(head_model, empty):
    with pytest.raises(rewrite.ValidationFailure, match=r"the probe batch is empty: its input 0 has shape"):
        rewrite.apply(head_model, "rule r {\n Dense.activation := tanh\n expect outputs equal\n}", probe=empty)


def test_probe_inputs_of_different_batch_sizes_are_refused(keras):
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(1, name="out")(keras.layers.Add()([a, b])))
    with pytest.raises(rewrite.ValidationFailure, match=r"different batch sizes \[2, 3\]"):
        rewrite.apply(model, "Dense.activation := tanh", probe=[np.ones((2, 2), "float32"), np.ones((3, 2), "float32")])


def test_in_place_puts_the_model_back_whatever_fails_after_the_change(head_model, probe):
    before = head_model.get_layer("fc1").activation.__name__
    # evaluate= on a model that was never compiled fails after the fields were set.
    with pytest.raises(ValueError, match="needs a compiled model"):
        rewrite.apply(head_model, 'Dense[name = "fc1"].activation := tanh', mode="inplace", evaluate=(probe, np.zeros((5, 3))))
    assert head_model.get_layer("fc1").activation.__name__ == before
    head_model.compile(loss="mse")
    with pytest.raises((ValueError, rewrite.RewriteError)):  # labels of the wrong shape
        rewrite.apply(head_model, 'Dense[name = "fc1"].activation := tanh', mode="inplace", evaluate=(probe, np.zeros((5, 7, 2))))
    assert head_model.get_layer("fc1").activation.__name__ == before
