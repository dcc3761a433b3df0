"""Real architectures we did not design: keras.applications (weights=None), via API and CLI."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.cli.main import main
from rewrite.validation.probe import make_probe

from .conftest import to_numpy

CASES = {
    "ResNet50": ("Activation[activation = relu].activation := gelu", "relu"),
    "EfficientNetB0": ("(Conv2D | DepthwiseConv2D | Activation)[activation = swish].activation := gelu", "silu"),
    "MobileNetV2": ('Dense[name = "predictions"].activation := linear', "softmax"),
}


def _activation_name(layer):
    act = layer.get_config().get("activation")
    return {"swish": "silu"}.get(act, act) if isinstance(act, str) else None


def _expected_matches(model, name):
    classes = {"ResNet50": ("Activation",), "EfficientNetB0": ("Conv2D", "DepthwiseConv2D", "Activation"), "MobileNetV2": ("Dense",)}[name]
    _, old = CASES[name]
    found = [
        layer.name
        for layer in model.layers
        if any(k in [c.__name__ for c in type(layer).__mro__] for k in classes) and _activation_name(layer) == old
    ]
    return found if name != "MobileNetV2" else ["predictions"]


def _sub(model, layer_name):
    import keras

    return keras.Model(model.input, model.get_layer(layer_name).output)


@pytest.mark.parametrize("name", sorted(CASES))
def test_application_via_api_and_cli(name, tmp_path, keras):
    rule, _ = CASES[name]
    model = getattr(keras.applications, name)(weights=None)
    before = [v.numpy().copy() for v in model.weights]
    result = rewrite.apply(model, rule)
    report = result.report
    assert report.passed, report.render()
    expected = _expected_matches(model, name)
    assert report.statements[0].matches == expected and len(expected) >= 1
    assert {c.layer for c in report.changes} == set(expected)
    new = result.model
    for a, b, c in zip(model.weights, new.weights, before):
        assert np.array_equal(a.numpy(), c), "input model changed"
        assert np.array_equal(a.numpy(), b.numpy()), a.path
    x = make_probe(model)
    if name == "MobileNetV2":
        # logits instead of softmax: softmax of the new output is the old output
        logits = to_numpy(new(x))
        e = np.exp(logits - logits.max(-1, keepdims=True))
        np.testing.assert_allclose(e / e.sum(-1, keepdims=True), to_numpy(model(x)), atol=1e-6)
        assert {(d.kind, d.max_abs == 0.0) for d in report.drift} == {("output", False), ("logits", True)}
    else:
        # an intermediate activation, computed another way: gelu of the original pre-activation
        act_layer = "conv1_relu" if name == "ResNet50" else "stem_activation"
        pre = model.get_layer(act_layer).input
        pre_values = to_numpy(keras.Model(model.input, pre)(x))
        np.testing.assert_allclose(to_numpy(_sub(new, act_layer)(x)), to_numpy(keras.activations.gelu(pre_values)), atol=1e-5)
        assert np.max(np.abs(to_numpy(_sub(model, act_layer)(x)) - to_numpy(_sub(new, act_layer)(x)))) > 1e-3

    saved = tmp_path / f"{name}.keras"
    model.save(saved)
    rules = tmp_path / "rule.rw"
    rules.write_text(rule + "\n")
    out = tmp_path / "out.keras"
    assert main(["apply", str(saved), str(rules), "-o", str(out), "--json"]) == 0
    reloaded = keras.saving.load_model(out)
    changed = [reloaded.get_layer(n).get_config()["activation"] for n in expected]
    assert set(changed) == {"linear" if name == "MobileNetV2" else "gelu"}
    np.testing.assert_allclose(to_numpy(reloaded(x)), to_numpy(new(x)), atol=1e-6)


def test_resnet50_fold_batchnorm_everywhere(keras):
    model = keras.applications.ResNet50(weights=None)
    rng = np.random.default_rng(0)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for bn in bns:
        n = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
        bn.beta.assign(rng.normal(0, 0.1, n).astype("float32"))
        bn.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
    result = rewrite.apply(model, "replace c:Conv2D -> bn:BatchNormalization with fold_batchnorm")
    assert result.report.passed
    assert len(result.report.statements[0].structure) == len(bns) == 53
    assert not [layer for layer in result.model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    x = make_probe(model)
    np.testing.assert_allclose(to_numpy(result.model(x)), to_numpy(model(x)), atol=1e-4)
    logits = keras.Model(model.input, model.get_layer("avg_pool").output)
    new_logits = keras.Model(result.model.input, result.model.get_layer("avg_pool").output)
    np.testing.assert_allclose(to_numpy(new_logits(x)), to_numpy(logits(x)), atol=1e-4, rtol=1e-4)


def test_mobilenetv2_replace_relu_with_gelu(keras):
    model = keras.applications.MobileNetV2(weights=None)
    relus = [layer.name for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    result = rewrite.apply(model, "replace ReLU with Activation(gelu)")
    assert result.report.passed and len(relus) == 35
    assert [s.layer for s in result.report.statements[0].structure] == relus
    for name in relus:
        layer = result.model.get_layer(name)
        assert isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] == "gelu"
    assert any(d.kind == "logits" and d.max_rel > 0.1 for d in result.report.drift)


def test_efficientnet_delete_dropout_keeps_inference_outputs(keras):
    model = keras.applications.EfficientNetB0(weights=None)
    dropouts = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts
    result = rewrite.apply(model, "rule r {\n delete Dropout\n expect outputs equal atol=1e-6\n}")
    assert result.report.passed
    assert not [layer for layer in result.model.layers if isinstance(layer, keras.layers.Dropout)]
    x = make_probe(model)
    np.testing.assert_allclose(to_numpy(result.model(x)), to_numpy(model(x)), atol=1e-6)
