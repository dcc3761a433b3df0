"""LoRA, merging and int8 on tiny keras-hub GPT2 and BERT backbones, in place, against keras-hub's and Keras's own calls."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite

keras_hub = pytest.importorskip("keras_hub")

SIZES = dict(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)


def _gpt2(**sizes):
    backbone = keras_hub.models.GPT2Backbone(**{**SIZES, **sizes})
    rng = np.random.default_rng(1)
    return backbone, {"token_ids": rng.integers(0, 50, (2, 8)).astype("int32"), "padding_mask": np.ones((2, 8), "int32")}


def _bert(**sizes):
    backbone = keras_hub.models.BertBackbone(**{**SIZES, **sizes})
    rng = np.random.default_rng(2)
    x = {"token_ids": rng.integers(0, 50, (2, 8)).astype("int32"), "segment_ids": np.zeros((2, 8), "int32"), "padding_mask": np.ones((2, 8), "int32")}
    return backbone, x


BUILDERS = {"gpt2": _gpt2, "bert": _bert}


def _twin(model):
    twin = type(model).from_config(model.get_config())
    twin.set_weights(model.get_weights())
    return twin


def _run(keras, model, x):
    out = model(x)
    out = out["sequence_output"] if isinstance(out, dict) else out
    return np.asarray(keras.ops.convert_to_numpy(out))


def _trainable(model):
    return sorted(v.path for v in model.trainable_weights)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_lora_attention_rule_is_keras_hubs_enable_lora_and_merges_back(keras, tmp_path, name):
    model, x = BUILDERS[name]()
    before = _run(keras, model, x)
    reference = _twin(model)
    reference.enable_lora(4)  # keras-hub's own: freeze all, adapters on query and value
    result = rewrite.apply(model, "keras-rewrite:std/lora-attention.rw", params={"rank": 4}, mode="inplace", probe=x, in_memory=True)
    assert result.report.passed
    assert _trainable(model) == _trainable(reference)
    adapters = [v for v in model.weights if "lora" in v.path]
    assert len(adapters) == 2 * 2 * SIZES["num_layers"]  # A and B, on query and value, per block
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == sum(int(np.prod(v.shape)) for v in reference.trainable_weights)
    np.testing.assert_allclose(_run(keras, model, x), before, atol=1e-6)
    (note,) = [n for n in result.report.notes if n.startswith("LoRA:")]
    assert f"{len(adapters)} adapter variable(s) on {2 * SIZES['num_layers']} layer(s)" in note
    assert note.endswith(f"-> {trainable:,} (Keras freezes each adapted kernel; its bias still trains)")
    model.save(tmp_path / "lora.keras")  # Keras folds the adapters into the kernels
    np.testing.assert_allclose(_run(keras, keras.saving.load_model(tmp_path / "lora.keras"), x), before, atol=1e-6)

    # As if fine-tuned: B is no longer zero; merging folds it into the kernels.
    rng = np.random.default_rng(0)
    for v in adapters:
        if v.path.endswith("_b"):
            v.assign(rng.standard_normal(v.shape).astype("float32") * 0.2)
    tuned = _run(keras, model, x)
    assert np.abs(tuned - before).max() > 1e-3
    merged = rewrite.apply(model, "(Dense | EinsumDense).lora_rank := none", mode="inplace", probe=x)
    assert merged.report.passed
    assert not [v for v in model.weights if "lora" in v.path]
    np.testing.assert_allclose(_run(keras, model, x), tuned, atol=1e-5)
    model.save(tmp_path / "merged.keras")
    np.testing.assert_allclose(_run(keras, keras.saving.load_model(tmp_path / "merged.keras"), x), tuned, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_int8_every_dense_but_the_head_matches_keras_bit_for_bit(keras, tmp_path, name):
    model, x = BUILDERS[name](hidden_dim=64, intermediate_dim=256)  # wide enough for the scales not to dominate
    before = _run(keras, model, x)
    reference = _twin(model)
    head = "pooled_dense"  # BERT's pooler; GPT2's backbone has no head of its own
    for layer in reference._flatten_layers():
        if type(layer) in (keras.layers.Dense, keras.layers.EinsumDense) and layer.name != head:
            layer.quantize("int8")
    size_before = sum(v.numpy().nbytes for v in model.weights)
    result = rewrite.apply(model, f'quantize (Dense | EinsumDense)[name != "{head}"] int8', mode="inplace", probe=x)
    assert result.report.passed
    quantized = {v.path: v.numpy() for v in model.weights}
    wanted = {v.path: v.numpy() for v in reference.weights}
    assert quantized.keys() == wanted.keys()
    for path, value in wanted.items():
        np.testing.assert_array_equal(quantized[path], value, err_msg=path)
        assert quantized[path].dtype == value.dtype
    (note,) = [n for n in result.report.notes if n.startswith("quantized")]
    ratio = float(note.rsplit("(", 1)[1].split("x")[0])
    assert 3.0 < ratio <= 4.0  # int8 kernels with a float scale per output: about 4x smaller
    assert sum(v.numpy().nbytes for v in model.weights) < size_before
    after = _run(keras, model, x)
    np.testing.assert_array_equal(after, _run(keras, reference, x))
    assert 0 < np.abs(after - before).max() < 0.1  # the drift documented in docs/language.md (0.02-0.05 measured)
    model.save(tmp_path / "int8.keras")
    reloaded = keras.saving.load_model(tmp_path / "int8.keras")
    np.testing.assert_array_equal(_run(keras, reloaded, x), after)
