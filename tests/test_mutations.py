"""Break the pipeline on purpose: validation must fail, naming the layer."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite import engine
from rewrite.build import clone as materialize
from rewrite.errors import ValidationFailure


def _after_transfer(monkeypatch, damage):
    original = engine.transfer

    def broken(view, plan, built):
        result = original(view, plan, built)
        damage(result, built)
        return result

    monkeypatch.setattr(engine, "transfer", broken)


def _failed(info) -> str:
    return "; ".join(f"{c.name}: {c.detail}" for c in info.value.report.validation if c.status == "failed")


def test_a_skipped_weight_is_caught(head_model, monkeypatch):
    def skip(result, built):
        label, _, var = next(k for k in result.kept if k[0] == "fc2/kernel")
        result.kept.remove((label, _, var))
        var.assign(np.zeros(var.shape, "float32"))

    _after_transfer(monkeypatch, skip)
    with pytest.raises(ValidationFailure) as info:
        rewrite.apply(head_model, "Dropout.rate := 0.1")
    assert "weight accounting: neither copied nor reported: fc2/kernel" in _failed(info)


def test_two_swapped_weights_are_caught(head_model, monkeypatch):
    def swap(result, built):
        bn = built.model.get_layer("bn")
        gamma, beta = bn.gamma.numpy(), bn.beta.numpy()
        bn.gamma.assign(beta)
        bn.beta.assign(gamma)

    _after_transfer(monkeypatch, swap)
    with pytest.raises(ValidationFailure) as info:
        rewrite.apply(head_model, "Dropout.rate := 0.1")
    assert "kept weights: differ from their source: bn/gamma, bn/beta" in _failed(info)


def test_dropped_batchnorm_statistics_are_caught(head_model, monkeypatch):
    def drop(result, built):
        bn = built.model.get_layer("bn")
        bn.moving_mean.assign(np.zeros(bn.moving_mean.shape, "float32"))
        bn.moving_variance.assign(np.ones(bn.moving_variance.shape, "float32"))

    _after_transfer(monkeypatch, drop)
    with pytest.raises(ValidationFailure) as info:
        rewrite.apply(head_model, "rule r {\n Dropout.rate := 0.1\n expect outputs equal\n}")
    failed = _failed(info)
    assert "bn/moving_mean" in failed and "bn/moving_variance" in failed
    assert "first layer whose output moved: `bn`" in failed


def test_forgotten_normalization_state_is_caught(keras, monkeypatch):
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).standard_normal((64, 3)).astype("float32") * 4 + 3)
    x = keras.Input((3,))
    m = keras.Model(x, keras.layers.Dense(2, name="d")(keras.layers.Dropout(0.1, name="drop")(norm(x))))

    def forget(result, built):
        layer = built.model.get_layer("norm")
        result.kept[:] = [k for k in result.kept if not k[0].startswith("norm/")]
        for v in layer.weights:
            v.assign(np.ones(v.shape, v.dtype) if v.name == "variance" else np.zeros(v.shape, v.dtype))
        layer.finalize_state()

    _after_transfer(monkeypatch, forget)
    with pytest.raises(ValidationFailure) as info:
        rewrite.apply(m, "rule r {\n Dropout.rate := 0.2\n expect outputs equal\n}")
    failed = _failed(info)
    assert "weight accounting: neither copied nor reported: norm/mean" in failed
    assert "first layer whose output moved: `norm`" in failed


def test_a_lost_shared_layer_link_is_caught(keras, monkeypatch):
    a, b = keras.Input((4,)), keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    m = keras.Model([a, b], keras.layers.Add(name="add")([shared(a), shared(b)]))
    original = materialize._CloneBuilder.call_layer
    called: set[int] = set()

    def forgetful(self, new, *args, **kwargs):
        if id(new) in called:  # the second call gets a copy of its own
            new = type(new).from_config(new.get_config())
        called.add(id(new))
        return original(self, new, *args, **kwargs)

    monkeypatch.setattr(materialize._CloneBuilder, "call_layer", forgetful)
    with pytest.raises(rewrite.RewriteError, match="shared"):  # a rewrite error, never a bare ValueError
        rewrite.apply(m, "Dense.activation := tanh")


def test_a_skipped_weight_beside_a_reported_one_is_caught(head_model, monkeypatch):
    def skip(result, built):
        entry = next(k for k in result.kept if k[0] == "out/bias")
        result.kept.remove(entry)
        entry[2].assign(np.zeros(entry[2].shape, "float32"))

    _after_transfer(monkeypatch, skip)
    with pytest.raises(ValidationFailure) as info:
        rewrite.apply(head_model, 'Dense[name = "fc2"].units := 4 using weights=reinit')
    assert "weight accounting: neither copied nor reported: out/bias" in _failed(info)
