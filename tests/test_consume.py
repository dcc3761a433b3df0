"""`consume=True`: the rewrite takes over the input model's memory (issue #19).

The result is the model read back from the validated file, equal to what a
rewrite without `consume` gives; the input model is unusable afterwards and the
report says so; a failed in-memory check leaves the input as it was; the reload
is compared weight by weight (a CRC-32 per variable), not only by outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.engine import ModelCache
from tests.conftest import weights_of

RULE = 'Dense[name = "fc1"].activation := tanh'


def _model(keras):
    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="fc1")(x)
    y = keras.layers.Dense(3, name="out")(h)
    return keras.Model(x, y, name="small")


def _x():
    return np.random.default_rng(0).normal(size=(4, 8)).astype("float32")


def test_consume_gives_the_same_model_and_uses_up_the_input(keras):
    reference = rewrite.apply(_model(keras), RULE)
    keras.utils.set_random_seed(1)
    model = _model(keras)
    expected = rewrite.apply(model, RULE).model.predict(_x(), verbose=0)
    result = rewrite.apply(model, RULE, consume=True)
    assert result.report.passed
    np.testing.assert_array_equal(result.model.predict(_x(), verbose=0), expected)
    assert list(weights_of(result.model)) == list(weights_of(reference.model))
    assert any("consume=True" in n and "can no longer be used" in n for n in result.report.notes)
    save_load = next(c for c in result.report.validation if c.kind == "save-load")
    assert "reloaded bit for bit (CRC-32 each)" in save_load.detail
    if keras.backend.backend() in ("tensorflow", "jax"):  # the backends whose storage is freed
        with pytest.raises(Exception):  # noqa: B017 - whichever error the backend raises on a freed variable
            model.predict(_x(), verbose=0)


def test_consume_without_a_reload_frees_the_input_and_keeps_the_result(keras):
    model = _model(keras)
    result = rewrite.apply(model, RULE, validate="none", consume=True)
    assert result.model.predict(_x(), verbose=0).shape == (4, 3)
    assert any("consume=True" in n for n in result.report.notes)


def test_a_failed_check_leaves_the_input_usable(keras):
    model = _model(keras)
    before = model.predict(_x(), verbose=0)
    rules = f"rule r {{\n  {RULE}\n  expect outputs equal\n}}\n"
    with pytest.raises(rewrite.ValidationFailure) as failed:
        rewrite.apply(model, rules, consume=True)
    np.testing.assert_array_equal(model.predict(_x(), verbose=0), before)
    assert not any("consume=True" in note for note in failed.value.report.notes)  # it gave nothing away


def test_consume_and_a_cache_do_not_go_together(keras):
    model = _model(keras)
    with pytest.raises(ValueError, match="consume=True"):
        rewrite.apply(model, RULE, consume=True, cache=ModelCache.of(model))


def test_a_reload_one_bit_off_fails_even_when_the_outputs_agree(keras, monkeypatch):
    from rewrite.validation import reload

    load = reload.load_folder

    def off_by_one_bit(*args, **kwargs):
        loaded = load(*args, **kwargs)
        bias = loaded.get_layer("out").bias
        value = np.array(bias.numpy())
        value.view(np.uint32)[0] ^= 1  # the last bit of one float: far below the outputs' tolerance
        bias.assign(value)
        return loaded

    monkeypatch.setattr(reload, "load_folder", off_by_one_bit)
    with pytest.raises(rewrite.ValidationFailure, match="reloaded weights differ from the validated model's: out/bias"):
        rewrite.apply(_model(keras), RULE, consume=True)


def test_the_file_written_is_the_folder_validation_reloaded(keras, tmp_path, monkeypatch):
    from rewrite.io import saving
    from rewrite.io.provenance import read

    keras.utils.set_random_seed(2)
    result = rewrite.apply(_model(keras), RULE, consume=True)
    assert result.validated_save is not None and result.validated_save.holds(result.model)

    def no_second_save(*args, **kwargs):
        raise AssertionError("the model was saved again")

    monkeypatch.setattr(saving, "save_keras", no_second_save)
    out = tmp_path / "out.keras"
    result.save(str(out))
    loaded = keras.saving.load_model(out)
    mine, theirs = weights_of(result.model), weights_of(loaded)
    assert list(mine) == list(theirs)
    for path, value in mine.items():
        assert value.tobytes() == theirs[path].tobytes(), path
    np.testing.assert_array_equal(loaded.predict(_x(), verbose=0), result.model.predict(_x(), verbose=0))
    assert loaded.get_layer("fc1").activation.__name__ == "tanh"
    assert read(out)["changed_layers"] == ["fc1"]


def test_a_model_changed_after_the_rewrite_is_saved_again(keras, tmp_path):
    result = rewrite.apply(_model(keras), RULE, consume=True)
    bias = result.model.get_layer("out").bias
    bias.assign(np.asarray(bias.numpy()) + 1.0)  # as a training step would
    assert not result.validated_save.holds(result.model)
    result.save(str(tmp_path / "out.keras"))
    loaded = keras.saving.load_model(tmp_path / "out.keras")
    np.testing.assert_array_equal(loaded.get_layer("out").bias.numpy(), bias.numpy())
    result.model.get_layer("fc1").trainable = False  # the config changes, the weights do not
    assert not result.validated_save.holds(result.model)


def test_the_validated_folder_is_kept_only_with_consume_and_removed_on_failure(keras, tmp_path, monkeypatch):
    import tempfile

    assert rewrite.apply(_model(keras), RULE).validated_save is None
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for failing in ("expect outputs equal", "expect params <= 10"):  # before the reload; after it (the budget)
        with pytest.raises(rewrite.ValidationFailure, match=failing):
            rewrite.apply(_model(keras), f"rule r {{\n {RULE}\n {failing}\n}}", consume=True)
        assert list(tmp_path.iterdir()) == []
    result = rewrite.apply(_model(keras), RULE, consume=True)
    folder = result.validated_save.folder
    assert (folder / "model.weights.h5").is_file()
    result.validated_save.discard()
    assert not folder.exists() and not result.validated_save.holds(result.model)
