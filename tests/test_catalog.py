"""The shipped class catalogue must describe the installed Keras."""

from __future__ import annotations

import pytest

from rewrite.lang.catalog import catalog


def test_catalog_matches_installed_keras():
    from rewrite._catalog_gen import generate

    fresh = generate()
    shipped = catalog()
    assert fresh["keras_version"] == shipped.keras_version, "run `make catalog` after upgrading Keras"
    assert set(fresh["classes"]) == set(shipped.classes), "run `make catalog`: the set of layer classes changed"
    for name, data in fresh["classes"].items():
        assert data["fields"] == shipped.classes[name].fields, f"fields of {name} changed: run `make catalog`"
        assert tuple(data["bases"]) == shipped.classes[name].bases
    assert fresh["activations"] == shipped.activations


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        ("Dense", {"units": 3}),
        ("Conv2D", {"filters": 2, "kernel_size": 3}),
        ("DepthwiseConv2D", {"kernel_size": 3}),
        ("BatchNormalization", {}),
        ("Dropout", {"rate": 0.1}),
        ("Activation", {"activation": "relu"}),
        ("ReLU", {}),
        ("LSTM", {"units": 3}),
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}),
        ("Embedding", {"input_dim": 5, "output_dim": 2}),
        ("LayerNormalization", {}),
    ],
)
def test_config_keys_are_catalogued_fields(keras, cls, kwargs):
    layer = getattr(keras.layers, cls)(**kwargs)
    missing = set(layer.get_config()) - set(catalog().classes[cls].fields)
    assert not missing, f"{cls} config keys missing from the catalogue: {missing}"
