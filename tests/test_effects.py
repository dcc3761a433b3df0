"""A report never says PASSED while a change is not in effect, or is lost by a save and reload."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite import engine
from rewrite.cli.main import main

from .conftest import to_numpy


@pytest.fixture
def block_model(keras):
    """A custom composite layer (a Dense inside), as keras.io examples write them."""

    @keras.saving.register_keras_serializable(package="effects_test")
    class Block(keras.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = keras.layers.Dense(units, name="inner")

        def build(self, input_shape):
            self.inner.build(input_shape)

        def call(self, x):
            return self.inner(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    x = keras.Input((3,), name="x")
    y = Block(name="block")(x)
    return keras.Model(x, keras.layers.Dense(2, name="out")(y), name="with_block")


def _trainable_ids(model):
    return {id(v) for v in model.trainable_weights}


def test_freezing_a_composite_layer_reaches_its_sublayers_in_memory(block_model):
    result = rewrite.apply(block_model, "Block.trainable := false", in_memory=True)
    block = result.model.get_layer("block")
    assert not any(id(v) in _trainable_ids(result.model) for v in block.weights)
    assert len(result.model.trainable_weights) == 2  # only `out`
    assert any("reaches its 1 sublayer(s)" in n for n in result.report.notes)
    checks = {c.kind: c for c in result.report.validation}
    assert checks["changes-in-effect"].status == "passed"
    assert checks["changes-kept"].status == "skipped" and "in memory only" in checks["changes-kept"].detail
    # One training step moves `out` and leaves the frozen block bit for bit.
    before = [v.numpy().copy() for v in block.weights]
    out_before = result.model.get_layer("out").kernel.numpy().copy()
    result.model.compile(optimizer="sgd", loss="mse")
    result.model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), epochs=1, verbose=0)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, block.weights))
    assert not np.array_equal(out_before, result.model.get_layer("out").kernel.numpy())


def test_a_freeze_a_reload_would_lose_fails_validation_with_the_reason(block_model, tmp_path):
    for validate in ("full", "config"):
        with pytest.raises(rewrite.ValidationFailure) as info:
            rewrite.apply(block_model, "Block.trainable := false", validate=validate)
        failed = {c.kind: c.detail for c in info.value.report.validation if c.status == "failed"}
        assert set(failed) == {"changes-kept"}, failed
        assert "`block`.trainable := False" in failed["changes-kept"]
        assert "still trainable" in failed["changes-kept"] and "set `trainable` on that layer again after loading" in failed["changes-kept"]
        assert "in_memory=True" in failed["changes-kept"]


def test_save_refuses_a_result_that_lives_in_memory_only(block_model, tmp_path):
    result = rewrite.apply(block_model, "Block.trainable := false", in_memory=True)
    assert result.report.in_memory and result.report.lost_on_save
    target = tmp_path / "frozen.keras"
    with pytest.raises(rewrite.RewriteError, match=r"lives in memory only: a save and reload would lose 2 change\(s\).*`block`"):
        result.save(str(target))
    assert not target.exists()


def test_the_cli_writes_nothing_when_a_change_would_be_lost(block_model, tmp_path, capsys):
    model_path, rules, out = tmp_path / "m.keras", tmp_path / "freeze.rw", tmp_path / "out.keras"
    block_model.save(model_path)
    rules.write_text("Block.trainable := false\n")
    assert main(["apply", str(model_path), str(rules), "-o", str(out)]) == 1
    assert "changes kept by a reload" in capsys.readouterr().err
    assert not out.exists()


def test_a_leaf_freeze_is_kept_by_the_reload(keras, head_model, tmp_path):
    result = rewrite.apply(head_model, 'Dense[name = "fc1"].trainable := false')
    kinds = {c.kind: c.status for c in result.report.validation}
    assert kinds["changes-in-effect"] == kinds["changes-kept"] == "passed"
    target = tmp_path / "frozen.keras"
    result.save(str(target))
    reloaded = keras.saving.load_model(target)
    frozen = {v.path for v in reloaded.get_layer("fc1").weights}
    assert frozen and not frozen & {v.path for v in reloaded.trainable_weights}


def test_an_activation_that_does_not_reach_the_layer_fails(keras, head_model, monkeypatch):
    """A build stage that loses the change (here on purpose) is caught by reading it back."""
    real = engine.materialize

    def forgetful(view, plan, prefill=True):
        built = real(view, plan, prefill)
        built.model.get_layer("fc1").activation = keras.activations.relu
        return built

    monkeypatch.setattr(engine, "materialize", forgetful)
    with pytest.raises(rewrite.ValidationFailure) as info:
        rewrite.apply(head_model, 'Dense[name = "fc1"].activation := tanh', validate="config")
    failed = {c.kind: c.detail for c in info.value.report.validation if c.status == "failed"}
    assert set(failed) == {"changes-in-effect", "changes-kept"}
    assert failed["changes-in-effect"] == "`fc1`.activation := tanh: its config says activation=relu"


def test_the_check_passes_a_plain_change_and_reads_it_after_reload(keras, head_model, probe):
    result = rewrite.apply(head_model, 'Dense[name ~ "fc*"].activation := gelu', probe=probe)
    checks = {c.kind: c for c in result.report.validation}
    assert checks["changes-in-effect"].detail.startswith("2 field change(s) read back")
    assert checks["changes-kept"].status == "passed"
    # The reference: the original's kernel and bias, exact gelu computed with numpy.
    from math import erf, sqrt

    fc1 = head_model.get_layer("fc1")
    pre = probe @ fc1.kernel.numpy() + fc1.bias.numpy()
    expected = pre * 0.5 * (1 + np.vectorize(erf)(pre / sqrt(2)))
    upto_fc1 = keras.Model(result.model.input, result.model.get_layer("fc1").output)
    np.testing.assert_allclose(to_numpy(upto_fc1(probe)), expected, atol=1e-5)
