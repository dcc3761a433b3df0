from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

collect_ignore = ["sample_repo"]
"""A rule repository the tests copy and break; its rule tests run from those copies."""


@pytest.fixture
def keras():
    import keras as _keras

    _keras.utils.set_random_seed(1)
    return _keras


def to_numpy(x) -> np.ndarray:
    """A backend tensor as a numpy array (a torch output that requires grad included)."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


def weights_of(model) -> dict[str, np.ndarray]:
    return {v.path: np.array(v.numpy()) for v in model.weights}


@pytest.fixture
def head_model(keras):
    """A small functional classifier with a dense head: fc1, fc2 (relu), out (softmax)."""
    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="fc1")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    h = keras.layers.Dense(12, activation="relu", name="fc2")(h)
    y = keras.layers.Dense(3, activation="softmax", name="out")(h)
    model = keras.Model(x, y, name="head")
    # Non-trivial BatchNormalization statistics, so copying them is visible.
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.linspace(-1, 1, 16).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2, 16).astype("float32"))
    return model


@pytest.fixture
def saved(tmp_path, keras):
    """The demo CNN saved as a .keras file (what `keras-rewrite` commands load)."""
    from rewrite.cli.demo import build_demo_model

    path = tmp_path / "model.keras"
    build_demo_model().save(path)
    return path


@pytest.fixture
def probe():
    return np.random.default_rng(0).standard_normal((5, 8)).astype("float32")


def scale_class(keras):
    """A custom layer as keras.io examples write one: a constructor argument and get_config."""

    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return Scale


@pytest.fixture
def demo_files(tmp_path, keras):
    """The demo model saved, a rule file for it, and where a rewrite of it goes."""
    from rewrite.cli.demo import build_demo_model

    model = tmp_path / "in.keras"
    build_demo_model().save(model)
    rules = tmp_path / "r.rw"
    rules.write_text('Dense[name ~ "fc*"].activation := tanh\n')
    return model, rules, tmp_path / "out.keras"
