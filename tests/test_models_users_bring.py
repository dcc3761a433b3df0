"""Models as users write them: subclassed models, keras.io-style custom layers, composite layers."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.cli.main import main

from .conftest import scale_class

X = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")


@pytest.fixture
def subclassed(keras):
    @keras.saving.register_keras_serializable(package="users_bring")
    class TwoLayers(keras.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.fc = keras.layers.Dense(units, activation="relu", name="fc")
            self.head = keras.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(self.fc(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    model = TwoLayers(name="two")
    model(X)
    return model


def test_a_subclassed_model_takes_an_activation_in_place(subclassed, keras):
    result = rewrite.apply(subclassed, 'Dense[name = "fc"].activation := tanh', mode="inplace", probe=X, in_memory=True)
    fc, head = subclassed.fc, subclassed.head
    expected = np.tanh(X @ fc.kernel.numpy() + fc.bias.numpy()) @ head.kernel.numpy() + head.bias.numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(subclassed(X)), expected, atol=1e-5)
    np.testing.assert_allclose(subclassed.predict(X, verbose=0), expected, atol=1e-5)
    checks = {c.kind: c.status for c in result.report.validation}
    assert checks["changes-in-effect"] == "passed" and checks["changes-kept"] == "skipped"
    assert any("TwoLayers saves only its constructor arguments" in item for item in result.report.lost_on_save)


def test_a_subclassed_model_says_why_its_change_would_be_lost(subclassed):
    with pytest.raises(rewrite.ValidationFailure, match=r"`fc`.activation := tanh: after a .keras save and reload, its config says activation=relu \(TwoLayers saves only its constructor arguments"):
        rewrite.apply(subclassed, 'Dense[name = "fc"].activation := tanh', mode="inplace", probe=X)
    assert subclassed.fc.activation.__name__ == "relu"  # put back: nothing changed


def test_a_subclassed_model_without_a_probe_or_in_clone_mode_is_a_rewrite_error(subclassed):
    with pytest.raises(rewrite.ValidationFailure, match=r"subclassed model \(TwoLayers\): it declares no inputs.*pass probe="):
        rewrite.apply(subclassed, "Dense.activation := tanh", mode="inplace")
    with pytest.raises(rewrite.RewriteError, match=r"subclassed model \(TwoLayers\): it has no graph of layer calls for clone mode.*mode='inplace'"):
        rewrite.apply(subclassed, "Dense.activation := tanh")


def test_a_custom_layer_without_kwargs_is_named_with_the_fix(keras):
    class NoKwargs(keras.layers.Layer):  # as some keras.io examples write them
        def __init__(self, units):
            super().__init__()
            self.units = units
            self.dense = keras.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, name="out")(NoKwargs(4)(x)))
    with pytest.raises(rewrite.PlanError, match=r"cannot rebuild layer `no_kwargs` \(NoKwargs\) from its config: TypeError: .*unexpected keyword argument.*add `\*\*kwargs`"):
        rewrite.apply(model, 'Dense[name = "out"].activation := tanh')


def test_the_cli_prints_one_line_and_a_traceback_only_with_debug(tmp_path, capsys, monkeypatch):
    rules = tmp_path / "r.rw"
    rules.write_text("Dense.activation := tanh\n")
    (tmp_path / "broken_model.py").write_text("def build():\n    raise KeyError('no such weights file')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["plan", "broken_model:build", str(rules)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: KeyError: 'no such weights file' (unexpected; run again with --debug for the traceback)"]
    assert main(["--debug", "plan", "broken_model:build", str(rules)]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("error: KeyError")


@pytest.fixture
def scaled(keras):
    Scale = keras.saving.register_keras_serializable(package="users_bring")(scale_class(keras))
    x = keras.Input((3,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="out")(Scale(name="scale")(x)))


@pytest.mark.parametrize("rule", ["*[factor > 1].factor := 3.0", "(Dense | Scale)[factor > 1].factor := 3.0", "Scale.factor := 3.0"])
def test_custom_fields_take_rules_once_the_model_is_given(scaled, rule, keras):
    result = rewrite.apply(scaled, rule)
    assert [(c.layer, c.new) for c in result.report.changes] == [("scale", 3.0)]
    assert result.report.warnings == []  # no "not a Keras layer class" once the model has the class
    out = scaled.get_layer("out")
    expected = (X * 3.0) @ out.kernel.numpy() + out.bias.numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(result.model(X)), expected, atol=1e-5)


def test_rules_can_be_a_library_name_or_a_path(head_model, tmp_path):
    with pytest.raises(rewrite.MatchError, match=r"keras-rewrite:std/fold-bn.rw:6:5: error\[expect-matches\]: rule `fold-bn` expects matches >= 2"):
        rewrite.apply(head_model, "keras-rewrite:std/fold-bn.rw")  # loaded: the head has no Conv + BN chain
    with pytest.raises(rewrite.RuleCheckError, match="cannot read rule file .*missing.rw"):
        rewrite.apply(head_model, str(tmp_path / "missing.rw"))
    path = tmp_path / "rate.rw"
    path.write_text("Dropout.rate := 0.25\n")
    assert rewrite.apply(head_model, str(path)).model.get_layer("drop").rate == 0.25


def test_delete_inside_a_sequential_called_twice(keras):
    seq = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(3, name="a"), keras.layers.Dropout(0.1, name="d"), keras.layers.Dense(3, name="b")], name="s"
    )
    i1, i2 = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([i1, i2], keras.layers.Add(name="add")([seq(i1), seq(i2)]))
    result = rewrite.apply(model, "delete Dropout")
    inner = result.model.get_layer("s")
    assert [layer.name for layer in inner.layers] == ["a", "b"]
    a, b = seq.get_layer("a"), seq.get_layer("b")

    def twice(v):
        return (v @ a.kernel.numpy() + a.bias.numpy()) @ b.kernel.numpy() + b.bias.numpy()

    x2 = X * 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(result.model([X, x2])), twice(X) + twice(x2), atol=1e-5)


def _tied(keras, clash: bool = False):
    """A head that calls an embedding its nested encoder also calls (a tied weight)."""
    embedding = keras.layers.Embedding(10, 4, name="embedding")
    ids = keras.Input((3,), dtype="int32", name="ids")
    encoder = keras.Model(ids, keras.layers.Dense(4, name="mix")(embedding(ids)), name="encoder")
    outer_ids = keras.Input((3,), dtype="int32", name="ids")
    total = keras.layers.Add(name="mix" if clash else "total")([encoder(outer_ids), embedding(outer_ids)])
    return keras.Model(outer_ids, total, name="tied")


def test_a_nested_model_sharing_a_layer_with_its_caller_is_called_inline_and_reloads(keras, tmp_path):
    model = _tied(keras)
    ids = np.array([[1, 2, 3], [4, 5, 9]], "int32")
    result = rewrite.apply(model, "Dense.activation := relu", probe=ids)
    assert result.report.passed
    assert any("`encoder`: its layers are called inline" in n for n in result.report.notes)
    assert [c.layer for c in result.report.changes] == ["encoder/mix"]
    (checked,) = [c for c in result.report.validation if c.kind == "changes-in-effect"]
    assert checked.status == "passed" and checked.detail.startswith("1 field change")
    # The reference, in numpy: relu(E[ids] W + b) + E[ids], with the original's weights.
    table = model.get_layer("encoder").get_layer("embedding").embeddings.numpy()
    kernel, bias = (v.numpy() for v in model.get_layer("encoder").get_layer("mix").weights)
    expected = np.maximum(table[ids] @ kernel + bias, 0) + table[ids]
    result.save(tmp_path / "tied.keras")
    reloaded = keras.saving.load_model(tmp_path / "tied.keras")
    for built in (result.model, reloaded):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(built(ids)), expected, atol=1e-6)
        assert len(built.weights) == 3  # one embedding table, read by both calls
        assert len(built.get_layer("embedding")._inbound_nodes) == 2
    np.testing.assert_array_equal(reloaded.get_layer("embedding").embeddings.numpy(), table)


def test_an_inlined_model_refuses_changes_to_itself_and_name_clashes(keras):
    with pytest.raises(rewrite.PlanError, match=r"`encoder` is a nested model that shares a layer .* Select the layers inside it"):
        rewrite.apply(_tied(keras), '*[name = "encoder"].trainable := false')
    with pytest.raises(rewrite.PlanError, match=r"two different layers are named `mix`"):
        rewrite.apply(_tied(keras, clash=True), "Dense.activation := relu")
