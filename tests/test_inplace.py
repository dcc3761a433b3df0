"""In-place mode: the existing layers change, traced functions are reset, refusals are clear."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.errors import InplaceError

from .test_rewrite import head_reference


def test_inplace_change_shows_in_already_traced_predict(head_model, probe, tmp_path):
    head_model.compile(loss="mse")
    before = head_model.predict(probe, verbose=0)  # traces predict with relu
    weights = [w.copy() for w in head_model.get_weights()]
    result = rewrite.apply(head_model, 'Dense[name ~ "fc*"].activation := tanh', mode="inplace")
    assert result.model is head_model
    after = head_model.predict(probe, verbose=0)
    _, expected = head_reference(head_model, probe, np.tanh)
    np.testing.assert_allclose(after, expected, atol=1e-5)
    assert np.max(np.abs(after - before)) > 1e-3
    for a, b in zip(weights, head_model.get_weights()):
        assert np.array_equal(a, b)
    rep = result.report
    assert rep.mode == "inplace" and rep.passed
    assert any("predict_function" in n for n in rep.notes)
    assert {c.name for c in rep.validation} >= {"save/load .keras", "kept weights"}
    assert any(d.max_abs > 0 for d in rep.drift)


def test_inplace_refuses_shape_changes_and_points_to_clone(head_model):
    with pytest.raises(InplaceError, match="does not set `units`.*mode='clone'"):
        rewrite.apply(head_model, 'Dense[name = "fc1"].units := 4', mode="inplace")
    assert head_model.get_layer("fc1").units == 16


def test_inplace_refuses_composite_layers(keras):
    x = keras.Input((5, 8))
    m = keras.Model(x, keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x))
    m(np.zeros((1, 5, 8), "float32"))
    with pytest.raises(InplaceError, match="built from sublayers.*old `dropout`"):
        rewrite.apply(m, "MultiHeadAttention.dropout := 0.3", mode="inplace")
    assert m.get_layer("mha").dropout == 0.0
    lstm_model = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(4, name="lstm")])
    with pytest.raises(InplaceError, match="sublayers"):
        rewrite.apply(lstm_model, "LSTM.activation := relu", mode="inplace")
    assert rewrite.apply(m, "MultiHeadAttention.dropout := 0.3").model.get_layer("mha").dropout == 0.3


def test_inplace_all_or_nothing(head_model):
    text = 'Dense[name = "fc1"].activation := tanh\nDense[name = "fc2"].units := 3'
    with pytest.raises(InplaceError):
        rewrite.apply(head_model, text, mode="inplace")
    assert head_model.get_layer("fc1").activation.__name__ == "relu"


def test_inplace_rate_and_trainable(head_model):
    rewrite.apply(head_model, "Dropout.rate := 0.1\nBatchNormalization.trainable := false", mode="inplace")
    assert head_model.get_layer("drop").rate == 0.1
    assert head_model.get_layer("bn").trainable is False
    assert head_model.get_layer("drop").get_config()["rate"] == 0.1


def test_bad_mode(head_model):
    with pytest.raises(ValueError, match="mode must be 'clone' or 'inplace'"):
        rewrite.apply(head_model, "Dropout.rate := 0.1", mode="fast")


def test_inplace_validation_failure_puts_the_model_back(head_model, probe):
    head_model.compile(loss="mse")
    before = head_model.predict(probe, verbose=0)
    text = "rule r {\n Dense[name = \"fc1\"].activation := tanh\n expect outputs equal\n}"
    with pytest.raises(rewrite.ValidationFailure):
        rewrite.apply(head_model, text, mode="inplace")
    assert head_model.get_layer("fc1").activation.__name__ == "relu"
    np.testing.assert_array_equal(head_model.predict(probe, verbose=0), before)


def test_inplace_refuses_structural_statements(head_model):
    with pytest.raises(InplaceError, match="only sets fields of existing layers"):
        rewrite.apply(head_model, "delete Dropout", mode="inplace")
    assert [layer.name for layer in head_model.layers] == ["x", "fc1", "bn", "drop", "fc2", "out"]
