"""`.keras` files written and read with the weights streamed (rewrite/keras_archive.py).

What Keras writes, `load_keras` reads to the same model bit for bit; what
`save_keras` writes, Keras's own `load_model` reads; assets and the provenance
record travel as they should; a hostile archive is refused.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from rewrite.keras_archive import load_keras, save_keras
from tests.conftest import weights_of


def _model(keras, compiled=False):
    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(5, activation="relu", name="fc1")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    y = keras.layers.Dense(3, name="out")(h)
    model = keras.Model(x, y, name="small")
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    return model


def _same(a, b) -> None:
    left, right = weights_of(a), weights_of(b)
    assert list(left) == list(right)
    for path, value in left.items():
        assert value.dtype == right[path].dtype and value.tobytes() == right[path].tobytes(), path


def test_load_keras_gives_what_keras_gives(keras, tmp_path):
    model = _model(keras, compiled=True)
    model.fit(np.ones((4, 6)), np.ones((4, 3)), verbose=0)  # optimizer slots to save and load
    path = tmp_path / "m.keras"
    model.save(path)
    theirs = keras.saving.load_model(path)
    ours = load_keras(path)
    _same(theirs, ours)
    assert ours.get_config() == theirs.get_config()
    assert ours.compiled and type(ours.optimizer) is type(theirs.optimizer)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    np.testing.assert_array_equal(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_save_keras_file_loads_with_keras(keras, tmp_path):
    model = _model(keras)
    path = tmp_path / "ours.keras"
    save_keras(model, path)
    reference = tmp_path / "theirs.keras"
    model.save(reference)
    with zipfile.ZipFile(path) as ours, zipfile.ZipFile(reference) as theirs:
        assert ours.namelist() == theirs.namelist()
        assert all(i.compress_type == zipfile.ZIP_STORED for i in ours.infolist())
    _same(model, keras.saving.load_model(path))
    assert [p.name for p in tmp_path.iterdir()] != [] and not any(p.name.startswith(".keras-save-") for p in tmp_path.iterdir())


def test_assets_travel_both_ways(keras, tmp_path):
    lookup = keras.layers.StringLookup(name="lookup")
    lookup.adapt(["a", "b", "c"])  # a vocabulary learned, not given: saved as an asset
    words = keras.Input((1,), dtype="string", name="words")
    model = keras.Model(words, lookup(words))
    path = tmp_path / "lookup.keras"
    save_keras(model, path)
    with zipfile.ZipFile(path) as zf:
        assert any(n.startswith("assets/") for n in zf.namelist())
    for loaded in (keras.saving.load_model(path), load_keras(path)):
        assert loaded.get_layer("lookup").get_vocabulary() == model.get_layer("lookup").get_vocabulary()


def test_a_provenance_record_stays_in_the_archive(keras, tmp_path):
    from rewrite.io.provenance import read, write

    path = tmp_path / "m.keras"
    save_keras(_model(keras), path)
    write(path, {"rules": ["x.rw"]})
    assert read(path) == {"rules": ["x.rw"]}
    assert load_keras(path).name == "small"


def test_a_member_that_leaves_the_folder_is_refused(keras, tmp_path):
    path = tmp_path / "m.keras"
    save_keras(_model(keras), path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("assets/../../escape.txt", b"x")
    with pytest.raises(ValueError, match="outside the model's folder"):
        load_keras(path)
    assert not (tmp_path / "escape.txt").exists()
