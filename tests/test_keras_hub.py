"""keras-hub backbones and tasks, built tiny from config (no download)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rewrite

keras_hub = pytest.importorskip("keras_hub")


def _bert():
    return keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16
    )


def _bert_inputs():
    rng = np.random.default_rng(0)
    return {
        "token_ids": rng.integers(0, 50, (2, 8)).astype("int32"),
        "segment_ids": np.zeros((2, 8), "int32"),
        "padding_mask": np.ones((2, 8), "int32"),
    }


def _outputs(model, x):
    import keras

    return {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}


def test_freezing_bert_encoders_reaches_their_sublayers_and_says_a_reload_loses_it(keras):
    backbone = _bert()
    with pytest.raises(rewrite.ValidationFailure, match=r"`transformer_layer_0`.trainable := False: after a .keras save and reload, 16 of its variables are still trainable"):
        rewrite.apply(backbone, "TransformerEncoder.trainable := false")
    result = rewrite.apply(backbone, "TransformerEncoder.trainable := false", in_memory=True)
    encoders = [result.model.get_layer(f"transformer_layer_{i}") for i in range(2)]
    training = {id(v) for v in result.model.trainable_weights}
    assert not any(id(v) in training for enc in encoders for v in enc.weights)
    assert len(result.model.trainable_weights) == len(backbone.trainable_weights) - 32
    with pytest.raises(rewrite.RewriteError, match="lives in memory only"):
        result.save("unused.keras")


def test_in_place_edits_on_a_backbone_that_saves_its_arguments_only_are_refused_with_why(keras):
    backbone = _bert()
    for rule in ("Embedding.trainable := false", 'Dropout[name = "embeddings_dropout"].rate := 0.0'):
        with pytest.raises(rewrite.ValidationFailure, match="BertBackbone saves only its constructor arguments, not its layers"):
            rewrite.apply(backbone, rule, mode="inplace")
    assert all(layer.trainable for layer in backbone.layers)  # put back after the refusal
    assert backbone.get_layer("embeddings_dropout").rate == pytest.approx(0.1)


def test_bert_encoders_take_relu_in_clone_mode_and_say_what_was_given_up(keras):
    backbone = _bert()
    x = _bert_inputs()
    result = rewrite.apply(backbone, "TransformerEncoder.activation := relu", probe=x)
    assert result.report.passed
    assert any("BertBackbone" in n and "Functional" in n for n in result.report.notes)
    # The reference: the original backbone, its feed-forward layers switched to relu by hand.
    originals = []
    for i in range(2):
        dense = backbone.get_layer(f"transformer_layer_{i}")._feedforward_intermediate_dense
        originals.append((dense, dense.activation))
        dense.activation = keras.activations.relu
    try:
        expected = _outputs(backbone, x)
    finally:
        for dense, activation in originals:
            dense.activation = activation
    got = _outputs(result.model, x)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5)
    assert np.abs(got["sequence_output"] - _outputs(backbone, x)["sequence_output"]).max() > 1e-4


def _gpt2_and_twin():
    """A tiny GPT2CausalLM, a twin with the same weights (the reference, edited by hand), and inputs."""
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16
    )
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    twin = keras_hub.models.GPT2CausalLM.from_config(lm.get_config())
    twin.set_weights(lm.get_weights())
    rng = np.random.default_rng(1)
    x = {"token_ids": rng.integers(0, 50, (2, 8)).astype("int32"), "padding_mask": np.ones((2, 8), "int32")}
    return lm, twin, x


def test_gpt2_causal_lm_runs_relu_in_place_in_predict_and_generate(keras):
    lm, twin, x = _gpt2_and_twin()
    prompt = {"token_ids": x["token_ids"][:1], "padding_mask": np.array([[1, 1, 1, 0, 0, 0, 0, 0]], "int32")}
    for model in (lm, twin):
        model.compile(sampler="greedy")
    before = lm.predict(x, verbose=0)
    generated_before = lm.generate(prompt, stop_token_ids=None)["token_ids"]  # traced with gelu
    rule = 'Dense[name = "feedforward_intermediate_dense"].activation := relu'
    with pytest.raises(rewrite.ValidationFailure, match="lives in memory only|saves only its constructor arguments"):
        rewrite.apply(lm, rule, mode="inplace", probe=x)
    result = rewrite.apply(lm, rule, mode="inplace", probe=x, in_memory=True)
    assert [c.old for c in result.report.changes][:1] and {str(c.new) for c in result.report.changes} == {"relu"}
    assert "gelu_approximate" in result.report.render()
    # The reference: the twin, edited by hand.
    for i in range(2):
        twin.backbone.get_layer(f"transformer_layer_{i}")._feedforward_intermediate_dense.activation = keras.activations.relu
    after = lm.predict(x, verbose=0)
    np.testing.assert_allclose(after, twin.predict(x, verbose=0), atol=1e-5)
    assert np.abs(after - before).max() > 1e-4
    generated = lm.generate(prompt, stop_token_ids=None)["token_ids"]
    np.testing.assert_array_equal(generated, twin.generate(prompt, stop_token_ids=None)["token_ids"])
    assert not np.array_equal(generated, generated_before)
    # The tied embedding is still one variable, read by the backbone and the head.
    assert lm.backbone.token_embedding.embeddings is lm.backbone.get_layer("token_embedding").embeddings


def test_a_task_rewritten_in_clone_mode_names_what_it_gave_up(keras):
    backbone = _bert()
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]),
        sequence_length=8,
    )
    classifier = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=3, preprocessor=preprocessor, activation="softmax")
    result = rewrite.apply(classifier, 'Dense[name = "logits"].activation := linear')
    (note,) = [n for n in result.report.notes if "BertTextClassifier" in n]
    assert "comes back as Functional" in note and "`predict`" not in note
    assert "its preprocessor (BertTextClassifierPreprocessor) is not part of the result" in note
    assert "mode='inplace' keeps the class" in note
    # What the note says works: the original's preprocessor, then the result.
    features = classifier.preprocessor(["the cat sat", "the cat"])
    logits = keras.ops.convert_to_numpy(result.model(features))
    probabilities = classifier.predict(["the cat sat", "the cat"], verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)), probabilities, atol=1e-5)


def test_a_backbone_whose_layers_do_not_rebuild_is_a_rewrite_error_naming_the_layer(keras):
    vit = keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=8, mlp_dim=16)
    with pytest.raises(rewrite.PlanError, match=r"cannot rebuild layer `vit_patching_and_embedding` \(ViTPatchingAndEmbedding\) from its config: ValueError: Unrecognized keyword arguments"):
        rewrite.apply(vit, "Dense.activation := relu")


def test_gpt2_causal_lm_in_clone_mode_keeps_its_tied_embedding_and_reloads(keras, tmp_path):
    lm, twin, x = _gpt2_and_twin()
    result = rewrite.apply(lm, "TransformerDecoder.activation := relu", probe=x)
    notes = " ".join(result.report.notes)
    assert re.search(r"`gpt2_backbone(_\d+)?`: its layers are called inline", notes)
    assert "the model was a GPT2CausalLM; it comes back as Functional" in notes and "`generate`" in notes
    # The reference: the twin, its feed-forward layers switched to relu by hand.
    for i in range(2):
        twin.backbone.get_layer(f"transformer_layer_{i}")._feedforward_intermediate_dense.activation = keras.activations.relu
    expected = keras.ops.convert_to_numpy(twin(x))
    result.save(tmp_path / "lm.keras")
    reloaded = keras.saving.load_model(tmp_path / "lm.keras")
    for model in (result.model, reloaded):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, atol=1e-5)
        assert len(model.weights) == len(lm.weights)  # the tied table is still one variable
        assert len(model.get_layer("token_embedding")._inbound_nodes) == 2
    np.testing.assert_array_equal(
        reloaded.get_layer("token_embedding").embeddings.numpy(), lm.backbone.token_embedding.embeddings.numpy()
    )
