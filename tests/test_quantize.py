"""`quantize SELECTOR MODE`: Keras's own quantization of the trained weights, chosen by rule."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite


def _model(keras):
    keras.utils.set_random_seed(0)
    ids = keras.Input((6,), dtype="int32", name="ids")
    h = keras.layers.Embedding(30, 8, name="embed")(ids)
    h = keras.layers.EinsumDense("abc,cd->abd", output_shape=(6, 16), bias_axes="d", name="proj")(h)
    h = keras.layers.Conv1D(8, 3, padding="same", name="conv")(h)
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dense(32, activation="relu", name="fc")(h)
    return keras.Model(ids, keras.layers.Dense(5, name="head")(h), name="quant_demo")


IDS = np.random.default_rng(0).integers(0, 30, (4, 6)).astype("int32")


def _out(keras, model):
    return keras.ops.convert_to_numpy(model(IDS))


def _by_hand(keras, model, mode, names):
    """The reference: a copy of the model, each named layer quantized with Keras's own call."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    for name in names:
        twin.get_layer(name).quantize(mode)
    return twin


def keras_numpy(v):
    return np.asarray(v.numpy())


def _variables(layer):
    return {v.name: keras_numpy(v) for v in layer.weights}


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantize_matches_keras_by_hand_bit_for_bit_and_survives_a_reload(keras, tmp_path, mode):
    model = _model(keras)
    originals = {v.path: keras_numpy(v) for v in model.weights}
    result = rewrite.apply(model, f'quantize (Dense | EinsumDense | Embedding)[name != "head"] {mode}', probe=IDS)
    assert result.report.passed
    new = result.model
    twin = _by_hand(keras, model, mode, ["embed", "proj", "fc"])
    for name in ("embed", "proj", "fc"):
        assert new.get_layer(name).quantization_mode == mode
        got, want = _variables(new.get_layer(name)), _variables(twin.get_layer(name))
        assert got.keys() == want.keys()
        for key in got:
            np.testing.assert_array_equal(got[key], want[key])
            assert got[key].dtype == want[key].dtype
    assert new.get_layer("head").quantization_mode is None
    np.testing.assert_array_equal(new.get_layer("head").kernel.numpy(), model.get_layer("head").kernel.numpy())
    np.testing.assert_array_equal(_out(keras, new), _out(keras, twin))
    # The caller's model is untouched: still float, bit for bit.
    assert all(layer.quantization_mode is None for layer in model.layers)
    for v in model.weights:
        np.testing.assert_array_equal(keras_numpy(v), originals[v.path])
    quantized = [a for a in result.report.weights.actions if a.action == "quantized"]
    assert {a.layer for a in quantized} == {"embed", "proj", "fc"}
    (note,) = [n for n in result.report.notes if n.startswith("quantized 3 layer(s)")]
    assert "x smaller" in note
    (drift,) = result.report.drift
    assert 0 < drift.max_abs < 0.5
    result.save(tmp_path / "q.keras")
    reloaded = keras.saving.load_model(tmp_path / "q.keras")
    assert reloaded.get_layer("fc").quantization_mode == mode
    np.testing.assert_array_equal(_out(keras, reloaded), _out(keras, new))


def test_float8_and_what_keras_cannot_quantize_are_near_misses(keras):
    model = _model(keras)
    result = rewrite.apply(model, "quantize * float8", probe=IDS)
    (statement,) = result.report.statements
    assert sorted(statement.matches) == ["fc", "head", "proj"]
    near = {n.layer: n.reason for n in statement.near_misses}
    assert "Keras has no quantization for Conv1D" in near["conv"]
    assert "Keras quantizes Embedding to int8 or int4, not float8" in near["embed"]
    assert {result.model.get_layer(n).quantization_mode for n in ("fc", "head", "proj")} == {"float8"}


def test_subclasses_and_composite_layers_are_near_misses_with_the_reason(keras):
    @keras.saving.register_keras_serializable(package="test_quantize")
    class Scaled(keras.layers.Dense):
        pass

    x = keras.Input((4, 8))
    h = keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x)
    h = Scaled(4, name="scaled")(h)
    model = keras.Model(x, keras.layers.Dense(2, name="out")(h))
    result = rewrite.apply(model, "quantize * int8", probe=np.ones((2, 4, 8), "float32"))
    (statement,) = result.report.statements
    assert statement.matches == ["out"]
    near = {n.layer: n.reason for n in statement.near_misses}
    assert "subclasses Dense without a `quantize` of its own" in near["scaled"]
    assert "built from sublayers" in near["mha"] and "EinsumDense" in near["mha"]


def test_quantize_already_done_is_a_skip_and_bad_modes_are_caught_before_a_model(keras):
    quantized = rewrite.apply(_model(keras), 'quantize Dense[name = "fc"] int8').model
    again = rewrite.apply(quantized, 'quantize Dense[name = "fc"] int8\nquantize Dense[name = "fc"] int4')
    first, second = again.report.statements
    assert [s.reason for s in first.skips] == ["already quantized to int8"]
    assert "Keras cannot quantize a layer twice" in {n.layer: n.reason for n in second.near_misses}["fc"]
    with pytest.raises(rewrite.RuleSyntaxError, match=r"1:16: .*unknown quantization mode `in8`.*did you mean `int8`"):
        rewrite.from_text("quantize Dense in8")
    with pytest.raises(rewrite.RuleSyntaxError, match="calibrates on sample data"):
        rewrite.from_text("quantize Dense gptq")
    with pytest.raises(rewrite.RuleCheckError, match=r"quantized dtype policy.*write `quantize SELECTOR int8`"):
        rewrite.from_text('Dense.dtype := "int8_from_float32"')


def test_in_place_quantization_is_undone_when_validation_fails(keras):
    """Keras saves no quantized sublayer of a plain Functional model: the reload fails,
    and the model the caller gave is put back as it was, float kernels and all."""
    x = keras.Input((4, 8))
    h = keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x)
    model = keras.Model(x, keras.layers.Dense(2, name="out")(h))
    probe = np.random.default_rng(0).random((2, 4, 8)).astype("float32")
    before = keras.ops.convert_to_numpy(model(probe))
    variables = list(model.weights)
    values = [keras_numpy(v) for v in variables]
    with pytest.raises(rewrite.ValidationFailure, match="save"):
        rewrite.apply(model, "quantize EinsumDense int8", mode="inplace", probe=probe)
    assert all(layer.quantization_mode is None for layer in model._flatten_layers())
    assert len(model.weights) == len(variables) and all(a is b for a, b in zip(model.weights, variables))
    for v, value in zip(model.weights, values):
        np.testing.assert_array_equal(keras_numpy(v), value)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(probe)), before)


def test_dtype_policies_keep_variables_in_their_dtype_and_bad_ones_are_clear_errors(keras):
    model = _model(keras)
    mixed = rewrite.apply(model, 'Dense.dtype := "mixed_bfloat16"', probe=IDS)
    fc = mixed.model.get_layer("fc")
    assert fc.compute_dtype == "bfloat16" and fc.kernel.dtype == "float32"
    np.testing.assert_array_equal(fc.kernel.numpy(), model.get_layer("fc").kernel.numpy())  # kept bit for bit
    assert 0 < max(d.max_abs for d in mixed.report.drift) < 0.1
    half = rewrite.apply(model, 'Dense[name = "fc"].dtype := "bfloat16"', probe=IDS).model.get_layer("fc")
    assert half.kernel.dtype == "bfloat16"
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras.ops.cast(half.kernel, "float32")),
        keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(model.get_layer("fc").kernel, "bfloat16"), "float32")),
    )
    with pytest.raises(rewrite.PlanError, match=r"`fc` \(Dense\) holds float weights; under the `int32` policy"):
        rewrite.apply(model, 'Dense[name = "fc"].dtype := "int32"')
    with pytest.raises(rewrite.PlanError, match="Invalid dtype: float17"):
        rewrite.apply(model, 'Dense[name = "fc"].dtype := "float17"')
