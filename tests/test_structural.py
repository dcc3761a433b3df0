"""delete, insert, replace, wrap and transforms: each against a reference model built
by hand with the same weights, and reloaded from .keras."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.errors import PlanError, ValidationFailure, WeightPolicyError

from .conftest import to_numpy
from .test_hard_cases import roundtrip


def close(a, b, atol=1e-5):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=atol)


@pytest.fixture
def mlp(keras):
    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="fc1")(x)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    h = keras.layers.Dense(12, name="fc2")(h)
    h = keras.layers.ReLU(name="relu2")(h)
    return keras.Model(x, keras.layers.Dense(3, name="out")(h), name="mlp")


@pytest.fixture
def xv():
    return np.random.default_rng(0).standard_normal((4, 8)).astype("float32")


def hand_built(keras, layers, source):
    """A functional model from a list of layers, weights taken from `source` by layer name."""
    x = keras.Input((8,))
    h = x
    for layer in layers:
        h = layer(h)
    model = keras.Model(x, h)
    for layer in layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    return model


def test_delete_dropout(keras, mlp, xv, tmp_path):
    result = rewrite.apply(mlp, "rule r {\n delete Dropout\n expect outputs equal atol=0\n}")
    assert [layer.name for layer in result.model.layers] == ["x", "fc1", "fc2", "relu2", "out"]
    ref = hand_built(keras, [keras.layers.Dense(16, activation="relu", name="fc1"), keras.layers.Dense(12, name="fc2"), keras.layers.ReLU(name="relu2"), keras.layers.Dense(3, name="out")], mlp)
    close(result.model(xv), ref(xv), atol=0)
    (change,) = result.report.statements[0].structure
    assert (change.kind, change.layer) == ("removed", "drop")
    roundtrip(result.model, tmp_path, xv)


def test_delete_the_output_layer_keeps_the_output_wired(keras, xv):
    x = keras.Input((8,))
    h = keras.layers.Dense(4, name="d")(x)
    m = keras.Model(x, keras.layers.Activation("linear", name="last")(h))
    result = rewrite.apply(m, "delete Activation")
    assert result.model.output_shape == (None, 4)
    close(result.model(xv), m(xv))


def test_delete_flatten_is_a_clear_error_and_leaves_nothing(keras):
    x = keras.Input((4, 4, 2))
    m = keras.Model(x, keras.layers.Dense(2, name="d")(keras.layers.Flatten(name="flat")(x)))
    with pytest.raises(PlanError, match=r"cannot delete `flat` \(Flatten\): its input has shape \(None, 4, 4, 2\) but its output has shape \(None, 32\)"):
        rewrite.apply(m, "delete Flatten")
    add = keras.Model([x, keras.Input((4, 4, 2))], keras.layers.Add(name="add")([x, x]))
    with pytest.raises(PlanError, match="does not take exactly one input"):
        rewrite.apply(add, "delete Add")


def test_insert_after_with_derived_names_and_identity(keras, mlp, xv, tmp_path):
    text = 'insert Dropout(0.1) after Dense[name ~ "fc*"]\ninsert Dense(@units) after Dense[name = "fc2"] using weights=identity'
    result = rewrite.apply(mlp, text + "\nrule eq {\n expect outputs equal\n}")
    names = [layer.name for layer in result.model.layers]
    assert names == ["x", "fc1", "fc1_dropout", "drop", "fc2", "fc2_dense", "fc2_dropout", "relu2", "out"]
    new = result.model.get_layer("fc2_dense")
    assert np.array_equal(new.kernel.numpy(), np.eye(12, dtype="float32"))
    close(result.model(xv), mlp(xv))
    assert {(a.layer, a.action) for a in result.report.weights.actions} == {("fc2_dense", "identity")}
    again = rewrite.apply(result.model, 'insert Dropout(0.1) after Dense[name = "fc1"]')
    assert "fc1_dropout_2" in [layer.name for layer in again.model.layers]
    roundtrip(result.model, tmp_path, xv)


def test_insert_before_and_fresh_weights(keras, mlp, xv):
    result = rewrite.apply(mlp, 'insert Dense(16, activation="tanh") before Dense[name = "fc2"]')
    new = result.model.get_layer("fc2_dense")
    assert [a.action for a in result.report.weights.actions] == ["new", "new"]
    ref = hand_built(
        keras,
        [keras.layers.Dense(16, activation="relu", name="fc1"), keras.layers.Dense(16, activation="tanh", name="fc2_dense"), keras.layers.Dense(12, name="fc2"), keras.layers.ReLU(name="relu2"), keras.layers.Dense(3, name="out")],
        result.model,
    )
    close(result.model(xv), ref(xv))
    assert new.kernel.numpy().std() > 0


def test_insert_that_changes_a_shape(keras, mlp):
    with pytest.raises(WeightPolicyError, match=r"layer `fc2`: weight `kernel` has shape \(16, 12\) in the original but the rewritten layer needs \(5, 12\).*insert Dense\(5\) after"):
        rewrite.apply(mlp, 'insert Dense(5) after Dense[name = "fc1"]')
    fixed = rewrite.apply(mlp, 'insert Dense(5) after Dense[name = "fc1"] using weights=reinit')
    assert fixed.model.get_layer("fc2").kernel.shape == (5, 12)
    with pytest.raises(PlanError, match=r"adding `fc1_conv2d` \(Conv2D\) after `fc1` failed"):
        rewrite.apply(mlp, 'insert Conv2D(4, 3) after Dense[name = "fc1"]')
    with pytest.raises(PlanError, match="`name=` is given but the statement matches 2 layers"):
        rewrite.apply(mlp, 'insert Dropout(0.1, name="d") after Dense[name ~ "fc*"]')


def test_replace_relu_with_activation(keras, mlp, xv, tmp_path):
    result = rewrite.apply(mlp, "replace ReLU with Activation(gelu)")
    layer = result.model.get_layer("relu2")
    assert isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] == "gelu"
    ref = hand_built(keras, [keras.layers.Dense(16, activation="relu", name="fc1"), keras.layers.Dense(12, name="fc2"), keras.layers.Activation("gelu", name="relu2"), keras.layers.Dense(3, name="out")], mlp)
    close(result.model(xv), ref(xv))
    roundtrip(result.model, tmp_path, xv)


def test_replace_conv_with_separable_reinit(keras, tmp_path):
    x = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, (3, 3), padding="same", name="c3")(x)
    h = keras.layers.Conv2D(4, (1, 1), name="c1")(h)
    m = keras.Model(x, h)
    text = "replace Conv2D[kernel_size=(3,3)] with SeparableConv2D(filters=@filters, kernel_size=@kernel_size, padding=@padding, strides=@strides) using weights=reinit"
    result = rewrite.apply(m, text)
    sep = result.model.get_layer("c3")
    assert isinstance(sep, keras.layers.SeparableConv2D) and sep.kernel_size == (3, 3) and sep.padding == "same"
    assert np.array_equal(sep.bias.numpy(), m.get_layer("c3").bias.numpy())  # same name and shape: kept
    actions = {(a.weight, a.action) for a in result.report.weights.actions}
    assert ("depthwise_kernel", "reinitialized") in actions and ("pointwise_kernel", "reinitialized") in actions
    assert ("kernel", "dropped") in actions
    with pytest.raises(WeightPolicyError, match="no source in the original"):
        rewrite.apply(m, text.replace(" using weights=reinit", ""))
    xv = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype("float32")
    ref = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.SeparableConv2D(4, 3, padding="same"), keras.layers.Conv2D(4, 1)])
    ref.set_weights(result.model.get_weights())
    close(result.model(xv), ref(xv))
    roundtrip(result.model, tmp_path, xv)


def test_replace_a_chain_with_captures(keras, mlp, xv):
    result = rewrite.apply(mlp, 'replace d:Dense[name = "fc2"] -> r:ReLU with Dense(@d.units, activation=relu, name="fc2_relu")')
    assert [layer.name for layer in result.model.layers] == ["x", "fc1", "drop", "fc2_relu", "out"]
    assert np.array_equal(result.model.get_layer("fc2_relu").kernel.numpy(), mlp.get_layer("fc2").kernel.numpy())
    close(result.model(xv), mlp(xv))
    assert result.report.statements[0].structure[0].layer == "fc2 -> relu2"


def test_chains_do_not_cross_branches_or_outputs(keras):
    x = keras.Input((4,))
    a = keras.layers.Dense(4, name="a")(x)
    b = keras.layers.BatchNormalization(name="b")(a)
    c = keras.layers.Dense(4, name="c")(a)  # a's output also feeds c
    m = keras.Model(x, [b, c])
    plan = rewrite.plan(m, "replace Dense -> BatchNormalization with fold_batchnorm")
    near = {n.layer: n.reason for n in plan.statements[0].near_misses}
    assert "feeds 2 layers" in near["a"] and "a chain does not cross a branch" in near["a"]
    assert "is also a model output" in near["c"]
    with pytest.raises(rewrite.MatchError):
        rewrite.apply(m, "rule f {\n replace Dense -> BatchNormalization with fold_batchnorm\n expect matches >= 1\n}")


def _bn_stats(bn, seed):
    rng = np.random.default_rng(seed)
    n = bn.gamma.shape[0]
    bn.gamma.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
    bn.beta.assign(rng.normal(0, 0.5, n).astype("float32"))
    bn.moving_mean.assign(rng.normal(0, 0.5, n).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.3, 3.0, n).astype("float32"))


@pytest.mark.parametrize("kind", ["Conv2D", "DepthwiseConv2D", "Dense"])
def test_fold_batchnorm(keras, kind, tmp_path):
    x = keras.Input((6, 6, 4))
    layer = {
        "Conv2D": keras.layers.Conv2D(5, 3, padding="same", name="k"),
        "DepthwiseConv2D": keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="k"),
        "Dense": keras.layers.Dense(7, name="k"),
    }[kind]
    h = keras.layers.BatchNormalization(name="bn")(layer(x))
    m = keras.Model(x, keras.layers.Activation("relu", name="act")(h))
    _bn_stats(m.get_layer("bn"), 3)
    result = rewrite.apply(m, "replace c:Conv2D -> bn:BatchNormalization with fold_batchnorm".replace("Conv2D", kind))
    assert [type(layer).__name__ for layer in result.model.layers] == ["InputLayer", kind, "Activation"]
    folded = result.model.get_layer("k")
    assert folded.use_bias
    xv = np.random.default_rng(4).standard_normal((3, 6, 6, 4)).astype("float32")
    close(result.model(xv), m(xv), atol=1e-5)
    assert {a.action for a in result.report.weights.actions} == {"computed"}
    assert any(c.name.startswith("expect outputs equal (rule fold_batchnorm") and c.status == "passed" for c in result.report.validation)
    roundtrip(result.model, tmp_path, xv)


def test_fold_skips_a_conv_with_an_activation(keras):
    x = keras.Input((6, 6, 2))
    m = keras.Model(x, keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(3, 3, activation="relu", name="k")(x)))
    result = rewrite.apply(m, "replace Conv2D -> BatchNormalization with fold_batchnorm")
    (skip,) = result.report.statements[0].skips
    assert skip.layer == "k" and "applies relu before the normalization" in skip.reason
    assert [layer.name for layer in result.model.layers][1:] == ["k", "bn"]


def test_split_and_merge_activation(keras, mlp, xv, tmp_path):
    split = rewrite.apply(mlp, 'replace Dense[name = "fc1"] with split_activation')
    names = [layer.name for layer in split.model.layers]
    assert names[:4] == ["x", "fc1", "fc1_activation", "drop"]
    assert split.model.get_layer("fc1").get_config()["activation"] == "linear"
    close(split.model(xv), mlp(xv))
    merged = rewrite.apply(split.model, "replace Dense -> Activation with merge_activation")
    assert [layer.name for layer in merged.model.layers] == [n for n in names if n != "fc1_activation"]
    assert merged.model.get_layer("fc1").get_config()["activation"] == "relu"
    close(merged.model(xv), mlp(xv))
    roundtrip(merged.model, tmp_path, xv)


def test_registered_transform(keras, mlp, xv):
    from rewrite.transforms import NewLayer, transform

    @transform("halve_out", chain_length=1)
    def halve_out(match):
        (dense,) = match.layers
        weights = {w.name: w.numpy() / 2 for w in dense.weights}
        return [NewLayer(type(dense).from_config(match.configs[0]), weights=weights)]

    result = rewrite.apply(mlp, 'replace Dense[name = "out"] with halve_out')
    close(result.model(xv), to_numpy(mlp(xv)) / 2)


def test_wrap_lstm_in_bidirectional(keras, tmp_path):
    x = keras.Input((5, 3))
    m = keras.Model(x, keras.layers.LSTM(4, name="lstm")(x))
    result = rewrite.apply(m, "wrap LSTM in Bidirectional")
    bi = result.model.get_layer("lstm_bidirectional")
    assert isinstance(bi, keras.layers.Bidirectional)
    for a, b in zip(m.get_layer("lstm").weights, bi.forward_layer.weights):
        assert np.array_equal(a.numpy(), b.numpy())
    assert {a.action for a in result.report.weights.actions} == {"new"}
    ref = keras.Model(x2 := keras.Input((5, 3)), keras.layers.Bidirectional(keras.layers.LSTM(4))(x2))
    ref.set_weights(result.model.get_weights())
    xv = np.random.default_rng(5).standard_normal((2, 5, 3)).astype("float32")
    close(result.model(xv), ref(xv))
    roundtrip(result.model, tmp_path, xv)


def test_wrap_dense_in_time_distributed(keras, tmp_path):
    x = keras.Input((5, 3))
    m = keras.Model(x, keras.layers.Dense(2, activation="relu", name="d")(x))
    result = rewrite.apply(m, "rule r {\n wrap Dense in TimeDistributed\n expect outputs equal\n}")
    td = result.model.get_layer("d_time_distributed")
    assert isinstance(td, keras.layers.TimeDistributed)
    assert np.array_equal(td.layer.kernel.numpy(), m.get_layer("d").kernel.numpy())
    xv = np.random.default_rng(6).standard_normal((2, 5, 3)).astype("float32")
    close(result.model(xv), m(xv))
    roundtrip(result.model, tmp_path, xv)


def test_insert_after_a_shared_layer_is_one_shared_layer(keras):
    a, b = keras.Input((4,)), keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    m = keras.Model([a, b], keras.layers.Add(name="add")([shared(a), shared(b)]))
    result = rewrite.apply(m, "insert Activation(tanh) after Dense")
    names = [layer.name for layer in result.model.layers]
    assert names.count("shared_activation") == 1 and names.count("shared") == 1
    xs = [np.ones((2, 4), "float32"), np.full((2, 4), 0.3, "float32")]
    k, bias = m.get_layer("shared").get_weights()
    close(result.model(xs), np.tanh(xs[0] @ k + bias) + np.tanh(xs[1] @ k + bias))


def test_structural_edits_inside_nested_models(keras, tmp_path):
    seq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6, name="s1"), keras.layers.Dropout(0.2, name="sdrop"), keras.layers.ReLU(name="srelu")], name="seq")
    i = keras.Input((6,))
    mid = keras.Model(i, keras.layers.Dense(6, name="m1")(seq(i)), name="mid")
    x = keras.Input((6,))
    m = keras.Model(x, keras.layers.Dense(2, name="head")(mid(x)))
    text = "delete Dropout\ninsert Dropout(0.1) after Dense[name = \"m1\"]\nreplace ReLU with Activation(gelu)"
    result = rewrite.apply(m, text)
    new_seq = result.model.get_layer("mid").get_layer("seq")
    assert [layer.name for layer in new_seq.layers] == ["s1", "srelu"]
    assert isinstance(new_seq.get_layer("srelu"), keras.layers.Activation)
    assert "m1_dropout" in [layer.name for layer in result.model.get_layer("mid").layers]
    s1, m1, head = seq.get_layer("s1").get_weights(), mid.get_layer("m1").get_weights(), m.get_layer("head").get_weights()
    xv = np.random.default_rng(7).standard_normal((3, 6)).astype("float32")
    h = to_numpy(keras.activations.gelu(xv @ s1[0] + s1[1]))
    close(result.model(xv), (h @ m1[0] + m1[1]) @ head[0] + head[1])
    roundtrip(result.model, tmp_path, xv)


def test_later_statements_see_added_layers(keras, mlp):
    result = rewrite.apply(mlp, 'insert Dropout(0.1) after Dense[name = "fc1"]\nDropout[name = "fc1_dropout"].rate := 0.3\ndelete Dropout[name = "drop"]')
    assert result.report.statements[1].matches == ["fc1_dropout"]
    assert result.model.get_layer("fc1_dropout").rate == 0.3
    assert "drop" not in [layer.name for layer in result.model.layers]
    gone = rewrite.apply(mlp, 'insert Dropout(0.1) after Dense[name = "fc1"]\ndelete Dropout[name = "fc1_dropout"]')
    assert [layer.name for layer in gone.model.layers] == [layer.name for layer in mlp.layers]


def test_plan_shows_structure_with_its_rule(mlp):
    report = rewrite.plan(mlp, "rule clean {\n delete Dropout\n replace ReLU with Activation(gelu)\n}")
    text = report.render()
    assert "removed    drop" in text and "replaced   relu2" in text
    data = report.to_dict()["statements"]
    assert data[0]["rule"] == "clean" and data[0]["structure"][0]["kind"] == "removed"


def test_bad_structure_in_validation_leaves_no_file(mlp, tmp_path):
    with pytest.raises(ValidationFailure):
        rewrite.apply(mlp, "rule r {\n replace ReLU with Activation(tanh)\n expect outputs equal\n}")


@pytest.mark.parametrize("kind", ["Conv2D", "DepthwiseConv2D", "BatchNormalization"])
def test_identity_start_for_convolutions_and_batchnorm(keras, kind):
    x = keras.Input((6, 6, 3))
    m = keras.Model(x, keras.layers.Conv2D(3, 3, padding="same", name="c")(x))
    call = {"Conv2D": "Conv2D(3, 3, padding=same)", "DepthwiseConv2D": "DepthwiseConv2D(3, padding=same)", "BatchNormalization": "BatchNormalization()"}[kind]
    result = rewrite.apply(m, f"rule r {{\n insert {call} after Conv2D using weights=identity\n expect outputs equal\n}}")
    assert len(result.model.layers) == 3
    with pytest.raises(PlanError, match="has no identity start"):
        rewrite.apply(m, "insert Dropout(0.1) after Conv2D using weights=identity")
