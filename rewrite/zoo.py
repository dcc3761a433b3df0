"""Small models for examples and rule tests, built on demand (random weights).

Rule tests name them as `rewrite.zoo:cnn`; they ship with the package so the
ready-made rules can be tested from an installed wheel.
"""

from __future__ import annotations

from typing import Any


def _busy_batchnorm(model: Any, seed: int = 0) -> Any:
    """Give every BatchNormalization non-trivial statistics, so folding them is visible."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
    return model


def cnn() -> Any:
    """A small image classifier: conv/BN/ReLU blocks, a depthwise block with ReLU6, a dense head."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.ReLU(max_value=6.0, name="relu6")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(32, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(0.3, name="drop")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc2")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="fc_out")(x)
    return _busy_batchnorm(keras.Model(inputs, outputs, name="zoo_cnn"))


def encoder() -> Any:
    """A small text encoder: token embedding, one attention block (MultiHeadAttention,
    LayerNormalization, a Dense feed-forward), pooled into a Dense head."""
    import keras

    keras.utils.set_random_seed(0)
    ids = keras.Input((12,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(100, 16, name="embed")(ids)
    attended = keras.layers.MultiHeadAttention(2, 8, name="attention")(x, x)
    x = keras.layers.LayerNormalization(name="norm1")(keras.layers.Add(name="residual1")([x, attended]))
    h = keras.layers.Dense(32, activation="gelu", name="ffn_in")(x)
    h = keras.layers.Dense(16, name="ffn_out")(h)
    x = keras.layers.LayerNormalization(name="norm2")(keras.layers.Add(name="residual2")([x, h]))
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(4, name="head")(x)
    return keras.Model(ids, outputs, name="zoo_encoder")
