"""LoRA adapters by rule: added the way Keras adds them, outputs unchanged, merged back for serving."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite


def _model(keras):
    keras.utils.set_random_seed(0)
    ids = keras.Input((5,), dtype="int32", name="ids")
    h = keras.layers.Embedding(20, 8, name="embed")(ids)
    h = keras.layers.EinsumDense("abc,cde->abde", output_shape=(5, 2, 4), bias_axes="de", name="proj")(h)
    h = keras.layers.Reshape((5, 8), name="join")(h)
    h = keras.layers.Dense(6, activation="relu", name="fc")(h)
    return keras.Model(ids, keras.layers.Dense(3, name="head")(h), name="lora_demo")


IDS = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]], "int32")


def _out(keras, model):
    return keras.ops.convert_to_numpy(model(IDS))


def test_lora_rank_adds_keras_adapters_and_keeps_every_output(keras, tmp_path):
    model = _model(keras)
    rule = '(Dense | EinsumDense | Embedding)[name in ["embed", "proj", "fc"]].lora_rank := 4'
    result = rewrite.apply(model, rule, probe=IDS)
    new = result.model
    for name in ("embed", "proj", "fc"):
        layer = new.get_layer(name)
        assert layer.lora_enabled and layer.lora_rank == 4 and layer.get_config()["lora_rank"] == 4
        base = "embeddings" if name == "embed" else "kernel"
        original = next(v for v in model.get_layer(name).weights if v.name == base)
        kept = next(v for v in layer.weights if v.name == base)
        np.testing.assert_array_equal(kept.numpy(), original.numpy())  # kept bit for bit
        a, b = (v for v in layer.weights if v.name.startswith("lora_"))
        assert np.abs(a.numpy()).max() > 0 and not np.any(b.numpy())  # A random, B zero: as Keras makes them
        assert not kept.trainable and a.trainable and b.trainable
    np.testing.assert_allclose(_out(keras, new), _out(keras, model), atol=1e-6)
    assert model.get_layer("fc").lora_enabled is False  # the input model is untouched
    actions = [a for a in result.report.weights.actions if a.action == "adapter"]
    assert len(actions) == 6
    (note,) = [n for n in result.report.notes if n.startswith("LoRA:")]
    assert "6 adapter variable(s) on 3 layer(s)" in note
    (expect,) = [c for c in result.report.validation if c.name.startswith("expect outputs equal")]
    assert expect.status == "passed"  # implied: new adapters keep the function
    result.save(tmp_path / "lora.keras")
    reloaded = keras.saving.load_model(tmp_path / "lora.keras")
    assert reloaded.get_layer("fc").lora_rank == 4
    np.testing.assert_allclose(_out(keras, reloaded), _out(keras, model), atol=1e-6)


def test_merge_lora_folds_trained_adapters_into_the_kernel(keras):
    lora = rewrite.apply(_model(keras), '(Dense | EinsumDense | Embedding)[name in ["embed", "proj", "fc"]].lora_rank := 2').model
    rng = np.random.default_rng(0)
    for layer in lora.layers:
        if getattr(layer, "lora_enabled", False):  # as if fine-tuned: B no longer zero
            b = next(v for v in layer.weights if v.name.endswith("_b"))
            b.assign(rng.standard_normal(b.shape).astype("float32") * 0.3)
    before = _out(keras, lora)
    merged = rewrite.apply(lora, "replace (Dense | EinsumDense | Embedding) with merge_lora", probe=IDS)
    assert merged.report.passed
    assert not [v for v in merged.model.weights if "lora" in v.path]
    assert all(not getattr(layer, "lora_enabled", False) for layer in merged.model.layers)
    np.testing.assert_allclose(_out(keras, merged.model), before, atol=1e-5)
    # The reference in numpy: W + (alpha / rank) * A @ B, for the Dense layer.
    fc = lora.get_layer("fc")
    expected = fc._kernel.numpy() + (fc.lora_alpha / fc.lora_rank) * fc.lora_kernel_a.numpy() @ fc.lora_kernel_b.numpy()
    np.testing.assert_allclose(merged.model.get_layer("fc").kernel.numpy(), expected, rtol=1e-6, atol=1e-6)
    skipped = [k.layer for s in merged.report.statements for k in s.skips]
    assert skipped == ["head"]  # no adapters there: skipped, with the reason, not changed


def test_lora_in_place_reaches_attention_sublayers_and_says_a_save_would_lose_it(keras):
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16
    )
    x = {"token_ids": np.random.default_rng(1).integers(0, 50, (2, 8)).astype("int32"), "padding_mask": np.ones((2, 8), "int32")}
    before = keras.ops.convert_to_numpy(backbone(x))
    count = len(backbone.weights)
    rule = 'EinsumDense[name in ["query", "value"]].lora_rank := 4'
    with pytest.raises(rewrite.ValidationFailure, match=r"`transformer_layer_0/self_attention/query`.lora_rank := 4: after a .keras save and reload, it has no LoRA adapters .*backbone.save_lora_weights"):
        rewrite.apply(backbone, rule, mode="inplace", probe=x)
    assert len(backbone.weights) == count and not [v for v in backbone.weights if "lora" in v.path]  # put back
    result = rewrite.apply(backbone, rule, mode="inplace", probe=x, in_memory=True)
    adapters = [v for v in backbone.weights if "lora" in v.path]
    assert len(adapters) == 8 and all(v.trainable for v in adapters)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(backbone(x)), before, atol=1e-6)
    assert result.report.in_memory and {c.field for c in result.report.changes} == {"lora_rank"}


def test_lora_fields_are_constructor_arguments_with_a_did_you_mean(keras):
    with pytest.raises(rewrite.RuleCheckError, match="did you mean `lora_rank`"):
        rewrite.apply(_model(keras), "Dense.lora_rnak := 4")
    with pytest.raises(rewrite.RuleCheckError, match=r"`Reshape` has no field `lora_rank`"):
        rewrite.apply(_model(keras), "Reshape.lora_rank := 4", mode="inplace")
    # `*` means the layers that have the field: the three kinds Keras gives adapters.
    result = rewrite.apply(_model(keras), "*.lora_rank := 2", probe=IDS)
    assert sorted(c.layer for c in result.report.changes) == ["embed", "fc", "head", "proj"]
