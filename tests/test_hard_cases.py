"""DESIGN.md's hard cases that a `:=` statement can meet, each checked on values."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.errors import ValidationFailure

from .conftest import scale_class, to_numpy


def roundtrip(model, tmp_path, x, **load):
    import keras

    path = tmp_path / "r.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, **load)
    a, b = model(x), loaded(x)
    for u, v in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        np.testing.assert_array_equal(to_numpy(u), to_numpy(v))
    return loaded


def same_weights(a, b):
    """Every weight equal, bit for bit, in model order (paths of wrapped layers may differ)."""
    assert [v.name for v in a.weights] == [v.name for v in b.weights]
    for u, v in zip(a.weights, b.weights):
        assert np.array_equal(u.numpy(), v.numpy()), u.path


def test_shared_layer_stays_shared(keras, tmp_path):
    x1, x2 = keras.Input((4,)), keras.Input((4,))
    shared = keras.layers.Dense(4, activation="relu", name="shared")
    m = keras.Model([x1, x2], keras.layers.Add()([shared(x1), shared(x2)]))
    result = rewrite.apply(m, "Dense.activation := tanh")
    new = result.model
    assert result.report.statements[0].matches == ["shared"]
    layer = new.get_layer("shared")
    assert len([op for op in new.layers if op.name == "shared"]) == 1
    assert len(new.weights) == 2
    xs = [np.ones((2, 4), "float32"), np.full((2, 4), -0.5, "float32")]
    k, b = m.get_layer("shared").kernel.numpy(), m.get_layer("shared").bias.numpy()
    expected = np.tanh(xs[0] @ k + b) + np.tanh(xs[1] @ k + b)
    np.testing.assert_allclose(to_numpy(new(xs)), expected, atol=1e-6)
    assert layer.activation.__name__ == "tanh"
    roundtrip(new, tmp_path, xs)


def _nested(keras):
    seq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="s1")], name="seq")
    i = keras.Input((6,))
    mid = keras.Model(i, keras.layers.Dense(6, activation="relu", name="m1")(seq(i)), name="mid")
    x = keras.Input((6,))
    return keras.Model(x, keras.layers.Dense(2, name="head")(mid(x)), name="outer")


def test_nested_models_two_levels(keras, tmp_path):
    m = _nested(keras)
    result = rewrite.apply(m, 'Dense[path = "mid/seq/s1"].activation := tanh\nDense[path ~ "mid/*"].units := @units')
    new = result.model
    s1 = new.get_layer("mid").get_layer("seq").get_layer("s1")
    assert s1.activation.__name__ == "tanh"
    assert new.get_layer("mid").get_layer("m1").activation.__name__ == "relu"
    same_weights(m, new)
    old_mid = m.get_layer("mid")
    s1w, m1w, hw = (layer.get_weights() for layer in (old_mid.get_layer("seq").get_layer("s1"), old_mid.get_layer("m1"), m.get_layer("head")))
    x = np.random.default_rng(0).standard_normal((3, 6)).astype("float32")
    h = np.tanh(x @ s1w[0] + s1w[1])
    h = np.maximum(h @ m1w[0] + m1w[1], 0)
    np.testing.assert_allclose(to_numpy(new(x)), h @ hw[0] + hw[1], atol=1e-5)
    roundtrip(new, tmp_path, x)


def test_nested_model_trainable_and_model_level_flag(keras):
    m = _nested(keras)
    result = rewrite.apply(m, 'Functional[name = "mid"].trainable := false')
    mid = result.model.get_layer("mid")
    assert mid.trainable is False and mid.get_layer("m1").trainable is False
    assert result.model.get_layer("head").trainable is True
    m.trainable = False
    frozen = rewrite.apply(m, "Dense[name = \"head\"].activation := tanh").model
    assert frozen.trainable is False and frozen.trainable_weights == []


def test_raw_ops_multi_input_unused_input_and_dict_outputs(keras, tmp_path):
    a = keras.Input((3,), name="a")
    b = keras.Input((3,), name="b")
    unused = keras.Input((2,), name="unused")
    h = keras.layers.Dense(3, activation="relu", name="d1")(a)
    s = keras.ops.multiply(keras.ops.add(h, b), 2.0)
    y1 = keras.layers.Dense(2, name="y1")(s)
    y2 = keras.layers.Dense(1, activation="sigmoid", name="y2")(s)
    m = keras.Model({"a": a, "b": b, "unused": unused}, {"first": y1, "second": y2})
    result = rewrite.apply(m, "Dense[name = \"d1\"].activation := tanh")
    assert sorted(result.model.input) == ["a", "b", "unused"]
    x = {"a": np.ones((2, 3), "float32"), "b": np.full((2, 3), 0.5, "float32"), "unused": np.zeros((2, 2), "float32")}
    w = {v.path: v.numpy() for v in m.weights}
    s_ref = (np.tanh(x["a"] @ w["d1/kernel"] + w["d1/bias"]) + x["b"]) * 2.0
    out = result.model(x)
    np.testing.assert_allclose(to_numpy(out["first"]), s_ref @ w["y1/kernel"] + w["y1/bias"], atol=1e-5)
    drift = {(d.output, d.kind) for d in result.report.drift}
    assert ("second", "logits") in drift and ("first", "output") in drift
    roundtrip(result.model, tmp_path, x)


def test_layer_with_several_outputs_mha_scores(keras, tmp_path):
    x = keras.Input((5, 8))
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")
    out, scores = mha(x, x, return_attention_scores=True)
    m = keras.Model(x, [keras.layers.Dense(3, activation="relu", name="proj")(out), scores])
    text = "rule r {\n MultiHeadAttention.dropout := 0.2\n Dense.activation := gelu\n}"
    result = rewrite.apply(m, text)
    assert result.model.get_layer("mha").dropout == 0.2
    same_weights(m, result.model)
    xv = np.random.default_rng(1).standard_normal((2, 5, 8)).astype("float32")
    ref_out, ref_scores = m(xv)
    new_out, new_scores = result.model(xv)
    np.testing.assert_allclose(to_numpy(new_scores), to_numpy(ref_scores), atol=1e-6)
    import keras as k

    gelu_ref = k.activations.gelu(m.get_layer("mha")(xv, xv) @ m.get_layer("proj").kernel + m.get_layer("proj").bias)
    np.testing.assert_allclose(to_numpy(new_out), to_numpy(gelu_ref), atol=1e-5)
    roundtrip(result.model, tmp_path, xv)


def test_functional_subclass_comes_back_as_functional_and_says_so(keras):
    class Tower(keras.Model):
        def __init__(self, **kwargs):
            x = keras.Input((3,))
            super().__init__(x, keras.layers.Dense(2, activation="relu", name="d")(x), **kwargs)

    result = rewrite.apply(Tower(), "Dense.activation := tanh", validate="config")
    assert type(result.model).__name__ == "Functional"
    assert any("Tower" in n and "Functional" in n for n in result.report.notes)


def test_activations_inside_wrappers(keras, tmp_path):
    x = keras.Input((5, 4))
    h = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True), name="bi")(x)
    y = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="relu", name="inner"), name="td")(h)
    m = keras.Model(x, y)
    result = rewrite.apply(m, "LSTM.activation := relu\nDense.activation := gelu")
    assert result.report.statements[0].matches == ["bi/forward_lstm", "bi/backward_lstm"]
    assert result.report.statements[1].matches == ["td/inner"]
    same_weights(m, result.model)
    # reference: the same architecture built by hand with the new activations
    x2 = keras.Input((5, 4))
    h2 = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True, activation="relu"), name="bi")(x2)
    y2 = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="gelu", name="inner"), name="td")(h2)
    ref = keras.Model(x2, y2)
    ref.set_weights(m.get_weights())
    xv = np.random.default_rng(2).standard_normal((2, 5, 4)).astype("float32")
    np.testing.assert_allclose(to_numpy(result.model(xv)), to_numpy(ref(xv)), atol=1e-6)
    roundtrip(result.model, tmp_path, xv)


@pytest.fixture
def block_class(keras):
    @keras.saving.register_keras_serializable(package="kr_tests")
    class FeedForward(keras.layers.Layer):
        """A TransformerEncoder-like composite: its activation lives in sublayers."""

        def __init__(self, dim=8, hidden=16, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.dim, self.hidden, self.activation = dim, hidden, activation
            self.up = keras.layers.Dense(hidden, activation=activation, name="up")
            self.down = keras.layers.Dense(dim, name="down")
            self.norm = keras.layers.LayerNormalization(name="norm")

        def call(self, x):
            return self.norm(x + self.down(self.up(x)))

        def get_config(self):
            return {**super().get_config(), "dim": self.dim, "hidden": self.hidden, "activation": self.activation}

    return FeedForward


def test_composite_layer_activation_clone_mode(keras, block_class, tmp_path):
    x = keras.Input((4, 8))
    m = keras.Model(x, block_class(name="ff")(x))
    result = rewrite.apply(m, "FeedForward.activation := gelu")
    assert result.model.get_layer("ff").up.activation.__name__ == "gelu"
    same_weights(m, result.model)
    ref_layer = block_class(activation="gelu")
    xv = np.random.default_rng(3).standard_normal((2, 4, 8)).astype("float32")
    ref_layer(xv)
    ref_layer.set_weights(m.get_layer("ff").get_weights())
    np.testing.assert_allclose(to_numpy(result.model(xv)), to_numpy(ref_layer(xv)), atol=1e-5)
    roundtrip(result.model, tmp_path, xv)


def test_unregistered_custom_layer_fails_validation_with_advice(keras, tmp_path):
    Scale = scale_class(keras)
    x = keras.Input((3,))
    m = keras.Model(x, Scale(name="scale")(keras.layers.Dense(3, name="d")(x)))
    with pytest.raises(ValidationFailure, match="register_keras_serializable") as info:
        rewrite.apply(m, "Scale.factor := 3.0")
    assert not info.value.report.passed
    result = rewrite.apply(m, "Scale.factor := 3.0", custom_objects={"Scale": Scale})
    xv = np.ones((1, 3), "float32")
    np.testing.assert_allclose(to_numpy(result.model(xv)), to_numpy(m(xv)) * 1.5, rtol=1e-6)
    assert m.get_layer("scale").factor == 2.0


def test_custom_class_unknown_to_the_model_is_an_error(head_model):
    with pytest.raises(rewrite.RuleCheckError, match="no layer of class `Scale` in the model"):
        rewrite.apply(head_model, "Scale.factor := 3.0")


def test_lambda_layers_and_safe_mode(keras, tmp_path):
    x = keras.Input((3,))
    h = keras.layers.Dense(3, activation="relu", name="d")(x)
    m = keras.Model(x, keras.layers.Lambda(lambda t: t * 2.0, name="double")(h))
    with pytest.raises(ValidationFailure, match="safe_mode=False") as info:
        rewrite.apply(m, "Dense.activation := tanh")
    assert [c.name for c in info.value.report.validation if c.status == "failed"] == ["config round trip", "save/load .keras"]
    result = rewrite.apply(m, "Dense.activation := tanh", safe_mode=False)
    xv = np.ones((2, 3), "float32")
    d = m.get_layer("d")
    np.testing.assert_allclose(to_numpy(result.model(xv)), np.tanh(xv @ d.kernel.numpy() + d.bias.numpy()) * 2, atol=1e-6)


def test_text_vectorization_vocabulary_survives(keras, tmp_path):
    vectorize = keras.layers.TextVectorization(output_mode="int", output_sequence_length=4, name="vec")
    vectorize.adapt(np.array(["the cat sat", "the dog ran far", "a bird"]))
    s = keras.Input((1,), dtype="string")
    h = keras.layers.Embedding(vectorize.vocabulary_size(), 3, name="emb")(vectorize(s))
    m = keras.Model(s, keras.layers.Dense(2, activation="relu", name="out")(keras.layers.Flatten()(h)))
    if keras.backend.backend() != "tensorflow":
        # Keras runs a model on strings only on TensorFlow: full validation says so
        # before any work, and a config-level rewrite still keeps the vocabulary.
        with pytest.raises(rewrite.ValidationFailure, match="string input .* validate='config'"):
            rewrite.apply(m, "Dense.activation := tanh")
        result = rewrite.apply(m, "Dense.activation := tanh", validate="config")
        assert result.report.passed
        assert result.model.get_layer("vec").get_vocabulary() == vectorize.get_vocabulary()
        assert result.model.get_layer("out").activation.__name__ == "tanh"
        return
    result = rewrite.apply(m, "Dense.activation := tanh")
    assert result.model.get_layer("vec").get_vocabulary() == vectorize.get_vocabulary()
    xv = np.array([["the dog sat"], ["a cat"]])
    out = m.get_layer("out")
    features = to_numpy(keras.Model(m.input, m.get_layer("out").input)(xv))
    np.testing.assert_allclose(to_numpy(result.model(xv)), np.tanh(features @ out.kernel.numpy() + out.bias.numpy()), atol=1e-6)
    roundtrip(result.model, tmp_path, xv)


def test_filters_and_num_heads_change_shapes_under_a_policy(keras):
    x = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    h = keras.layers.Conv2D(6, 3, padding="same", name="c2")(h)
    m = keras.Model(x, h)
    result = rewrite.apply(m, 'Conv2D[name = "c1"].filters := 8 using weights=slice')
    c1, c2 = result.model.get_layer("c1"), result.model.get_layer("c2")
    assert c1.kernel.shape == (3, 3, 3, 8) and c2.kernel.shape == (3, 3, 8, 6)
    assert np.array_equal(c1.kernel.numpy()[..., :4], m.get_layer("c1").kernel.numpy())
    assert np.array_equal(c2.kernel.numpy()[:, :, :4, :], m.get_layer("c2").kernel.numpy())
    s = keras.Input((5, 8))
    attn = keras.Model(s, keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(s, s))
    wider = rewrite.apply(attn, "MultiHeadAttention.num_heads := 4 using weights=reinit")
    actions = {(a.weight, a.action) for a in wider.report.weights.actions}
    assert ("query/kernel", "reinitialized") in actions
    old_out = attn.get_layer("mha").output_dense.kernel.numpy()
    assert wider.model.get_layer("mha").query_dense.kernel.shape == (8, 4, 4)
    assert old_out.shape == (2, 4, 8) and wider.model.get_layer("mha").output_dense.kernel.shape == (4, 4, 8)


def test_batchnorm_normalization_and_lookup_state(keras, tmp_path):
    words = np.array([["cat"], ["dog"], ["bird"], ["dog"]])
    lookup = keras.layers.StringLookup(name="lookup")
    lookup.adapt(words)
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).standard_normal((32, 3)).astype("float32") * 5 + 2)
    s = keras.Input((1,), dtype="string", name="word")
    f = keras.Input((3,), name="feat")
    e = keras.layers.Flatten()(keras.layers.Embedding(lookup.vocabulary_size(), 4, name="emb")(lookup(s)))
    h = keras.layers.Concatenate()([e, norm(f)])
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    m = keras.Model([s, f], keras.layers.Dense(2, activation="relu", name="out")(h))
    m.get_layer("bn").moving_mean.assign(np.arange(7, dtype="float32"))
    if keras.backend.backend() != "tensorflow":
        # No string batch can reach the model off TensorFlow (see the test above); the
        # state that lives outside the weights is still carried.
        result = rewrite.apply(m, "Dropout.rate := 0.1", validate="config")
        assert result.model.get_layer("lookup").get_vocabulary() == lookup.get_vocabulary()
        np.testing.assert_array_equal(result.model.get_layer("bn").moving_mean.numpy(), np.arange(7, dtype="float32"))
        np.testing.assert_allclose(to_numpy(result.model.get_layer("norm").mean), to_numpy(norm.mean))
        return
    result = rewrite.apply(m, "rule r {\n Dropout.rate := 0.1\n expect outputs equal atol=0\n}")
    new = result.model
    assert new.get_layer("lookup").get_vocabulary() == lookup.get_vocabulary()
    np.testing.assert_array_equal(new.get_layer("bn").moving_mean.numpy(), np.arange(7, dtype="float32"))
    xv = [np.array([["dog"], ["cat"], ["fish"]]), np.ones((3, 3), "float32")]
    np.testing.assert_array_equal(to_numpy(new(xv)), to_numpy(m(xv)))
    roundtrip(new, tmp_path, xv)


def test_embedding_probe_stays_in_vocabulary(keras):
    from rewrite.graphview.view import build_view
    from rewrite.validation.probe import make_probe

    x = keras.Input((6,), dtype="int32")
    m = keras.Model(x, keras.layers.Dense(1, name="d")(keras.layers.Flatten()(keras.layers.Embedding(7, 2)(x))))
    probe = make_probe(m, build_view(m))
    assert probe.dtype == np.int32 and probe.min() >= 0 and probe.max() < 7 and probe.max() > 2
    assert rewrite.apply(m, "Dense.activation := tanh").report.passed


def test_compiled_model_comes_back_compiled(head_model):
    head_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((16, 8)).astype("float32")
    y = np.arange(16) % 3
    head_model.fit(x, y, epochs=1, verbose=0)
    result = rewrite.apply(head_model, 'Dense[name ~ "fc*"].activation := tanh', evaluate=(x, y))
    new = result.model
    assert new.compiled and new.get_compile_config() == head_model.get_compile_config()
    assert new.optimizer is not head_model.optimizer and int(new.optimizer.iterations.numpy()) == 0
    ev = result.report.evaluation
    assert set(ev.original) == {"loss", "compile_metrics"} or "loss" in ev.original
    assert ev.original["loss"] == pytest.approx(head_model.evaluate(x, y, verbose=0, return_dict=True)["loss"], rel=1e-5)
    assert ev.rewritten["loss"] == pytest.approx(new.evaluate(x, y, verbose=0, return_dict=True)["loss"], rel=1e-5)
    new.fit(x, y, epochs=1, verbose=0)  # re-training is one call away


def test_unnamed_inputs_keep_their_names(keras):
    a, b = keras.Input((3,)), keras.Input((3,))
    m = keras.Model([a, b], keras.layers.Dense(2, name="d")(keras.layers.Add()([a, b])))
    result = rewrite.apply(m, "Dense.activation := tanh")
    assert [layer.name for layer in result.model.layers] == [layer.name for layer in m.layers]
