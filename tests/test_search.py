"""Search spaces, variants built once per distinct plan, and the search command."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import rewrite
from rewrite.cli.main import main
from rewrite.search import variants

SPACE = """
param act = relu in [relu, gelu, tanh]
param width = 16 in range(16, 48, step=16)
param rate = 0.25 in range(0.0, 0.5)
Dense[name = "fc1"].activation := $act
Dense[name = "fc1"].units := $width using weights=slice
Dropout.rate := $rate
"""


def test_space_grid_and_sample_are_right_and_reproducible():
    rs = rewrite.from_text(SPACE)
    space = rs.space()
    assert space["act"].values == ("relu", "gelu", "tanh")
    assert space["width"].points() == [16, 32, 48]
    assert (space["rate"].kind, space["rate"].low, space["rate"].high) == ("float", 0.0, 0.5)
    with pytest.raises(ValueError, match="needs a step for a grid"):
        rs.grid()
    fixed = rewrite.from_text(SPACE.replace("range(0.0, 0.5)", "range(0.0, 0.5, step=0.25)"))
    grid = fixed.grid()
    assert len(grid) == 3 * 3 * 3 and grid[0] == {"act": "relu", "width": 16, "rate": 0.0}
    assert len({json.dumps(g, sort_keys=True) for g in grid}) == 27
    assert rs.sample(0) == []
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="number of draws"):
            rs.sample(bad)
    draws = rs.sample(20, seed=7)
    assert draws == rs.sample(20, seed=7) and draws != rs.sample(20, seed=8)
    assert all(d["act"] in space["act"].values and d["width"] in (16, 32, 48) and 0 <= d["rate"] <= 0.5 for d in draws)


def test_variants_are_deduplicated_keep_weights_and_leave_the_base(head_model):
    rs = rewrite.from_text(
        "param act = relu in [relu, gelu]\nparam width = 16 in [16, 32]\n"
        'Dense[name ~ "fc*"].activation := $act\nDense[name = "fc1"].units := $width using weights=slice\n'
    )
    before = [v.numpy().copy() for v in head_model.weights]
    params = rs.grid() + [{"act": "relu", "width": 16}]
    built = list(variants(rs, head_model, params, validate="config"))
    assert [v.duplicate_of for v in built] == [None, None, None, None, 0]
    assert len({v.signature for v in built}) == 4
    for v in built[:4]:
        assert v.report.passed and v.model is not head_model
        new = {w.path: w.numpy() for w in v.model.weights}
        for w in head_model.weights:
            if w.path in new and new[w.path].shape == w.shape:
                assert np.array_equal(new[w.path], w.numpy()), w.path  # every weight that fits is kept
        assert v.model.get_layer("fc1").units == v.params["width"]
    for a, b in zip(before, head_model.weights):
        assert np.array_equal(a, b.numpy())
    assert head_model.get_layer("fc1").units == 16 and head_model.get_layer("fc1").activation.__name__ == "relu"


def test_variants_plan_each_draw_once_and_honour_strict(head_model, monkeypatch):
    from rewrite import engine

    calls = []
    real = engine.build_plan
    monkeypatch.setattr(engine, "build_plan", lambda *a, **k: calls.append(k.get("strict")) or real(*a, **k))
    rs = rewrite.from_text('param act = relu in [relu, gelu]\nDense[name ~ "fc*"].activation := $act\n')
    params = rs.grid() + [{"act": "relu"}]
    built = list(variants(rs, head_model, params, validate="none", strict=True))
    assert [v.duplicate_of for v in built] == [None, None, 0]
    assert calls == [True, True, True]  # one plan per draw, duplicates included; none planned again to build
    assert [v.model.get_layer("fc1").activation.__name__ for v in built[:2]] == ["relu", "gelu"]
    calls.clear()
    strict = rewrite.from_text('param act = relu in [relu]\nDense[name = "nothing"].activation := $act\n')
    with pytest.raises(rewrite.MatchError, match="nothing"):
        list(variants(strict, head_model, strict.grid(), validate="none", strict=True))


def test_drift_is_measured_on_request_at_every_validation_level(head_model):
    rule = 'Dense[name = "fc1"].activation := tanh'
    full = rewrite.apply(head_model, rule, validate="full").report.drift
    assert full and max(d.max_abs for d in full) > 0
    # `config` runs the model too (its outputs must stay finite), so it measures the drift as well.
    assert rewrite.apply(head_model, rule, validate="config").report.drift == full
    assert rewrite.apply(head_model, rule, validate="none").report.drift == []
    assert rewrite.apply(head_model, rule, validate="none", drift=True).report.drift == full


def test_search_command_writes_variants_and_index(tmp_path, capsys, keras, saved):
    model_path = saved
    rules = tmp_path / "s.rw"
    rules.write_text('param act = relu in [relu, gelu, tanh]\nparam width = 32 in [32, 48]\nDense[name ~ "fc?"].activation := $act\nDense[name = "fc1"].units := $width using weights=slice\n')
    out = tmp_path / "variants"
    assert main(["search", str(model_path), str(rules), "--grid", "-o", str(out), "--set", "act=gelu", "--drift"]) == 0
    assert "2 variant(s) written" in capsys.readouterr().out  # act fixed: 2 widths, 6 draws -> 2 distinct plans
    index = json.loads((out / "index.json").read_text())
    files = [r["file"] for r in index if r["file"]]
    assert len(files) == 2 and all((out / f).exists() for f in files)
    widths = sorted(keras.saving.load_model(out / f).get_layer("fc1").units for f in files)
    assert widths == [32, 48]
    rows = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert len(rows) == 6 and {r["validation"] for r in rows if r["file"]} == {"passed"}
    assert all(r["max_drift"] > 0.01 for r in index if r["file"])  # relu -> gelu moves the outputs
    assert main(["search", str(model_path), str(rules), "--sample", "3", "--seed", "1", "-o", str(tmp_path / "s")]) == 0
    # Widening preserves the function: every variant's drift is (nearly) zero; without --drift it is not measured.
    wider = tmp_path / "wider.rw"
    wider.write_text('param width = 32 in [32, 48, 64]\nDense[name = "fc1"].units := $width using weights=widen\n')
    assert main(["search", str(model_path), str(wider), "--grid", "-o", str(tmp_path / "w"), "--drift"]) == 0
    rows = json.loads((tmp_path / "w" / "index.json").read_text())
    assert [r["parameters"] for r in rows] == sorted({r["parameters"] for r in rows})  # three widths
    assert all(r["max_drift"] is not None and r["max_drift"] <= 1e-5 for r in rows)
    assert main(["search", str(model_path), str(wider), "--grid", "-o", str(tmp_path / "n"), "--validate", "none"]) == 0
    assert [r["max_drift"] for r in json.loads((tmp_path / "n" / "index.json").read_text())] == [None] * 3


def test_search_in_worker_processes_writes_what_one_process_writes(tmp_path, capsys, keras, saved):
    model_path = saved
    rules = tmp_path / "s.rw"
    rules.write_text('param act = relu in [relu, gelu]\nparam width = 32 in [32, 48]\nDense[name ~ "fc?"].activation := $act\nDense[name = "fc1"].units := $width using weights=slice\n')
    one, two = tmp_path / "one", tmp_path / "two"
    # width fixed at the model's own 32: every weight is kept, so the files can be compared bit for bit
    assert main(["search", str(model_path), str(rules), "--grid", "-o", str(one), "--set", "width=32", "--drift"]) == 0
    assert main(["search", str(model_path), str(rules), "--grid", "-o", str(two), "--set", "width=32", "--jobs", "2", "--drift"]) == 0
    assert "2 variant(s) written" in capsys.readouterr().out.split("\n", 1)[1]  # 4 draws, width fixed: 2 plans
    index = json.loads((one / "index.json").read_text())
    drifts = [row.pop("max_drift", None) for row in index]
    assert [d > 0 for d in drifts if d is not None] == [False, True]  # relu as before; then relu -> gelu
    others = json.loads((two / "index.json").read_text())
    theirs = [row.pop("max_drift", None) for row in others]
    assert [d is None for d in theirs] == [d is None for d in drifts]
    assert [d for d in theirs if d is not None] == pytest.approx([d for d in drifts if d is not None], rel=1e-6, abs=1e-9)
    assert others == index
    for row in index:
        if row["file"]:  # the same model, weight for weight
            a, b = (keras.saving.load_model(d / row["file"]) for d in (one, two))
            assert [w.path for w in a.weights] == [w.path for w in b.weights]
            for x, y in zip(a.weights, b.weights):
                np.testing.assert_array_equal(x.numpy(), y.numpy())
    # A variant that cannot be built stops the search with its reason, and no index is written.
    bad = tmp_path / "bad.rw"
    bad.write_text("param width = 32 in [32, 48]\nDense[name = \"fc1\"].units := $width\n")
    assert main(["search", str(model_path), str(bad), "--grid", "-o", str(tmp_path / "bad"), "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert "variant 1 {'width': 48}" in err and "using weights=reinit" in err
    assert not (tmp_path / "bad" / "index.json").exists()
    assert main(["search", str(model_path), str(rules), "--grid", "-o", str(tmp_path / "z"), "--jobs", "0"]) == 2
    assert "argument --jobs: takes a whole number, 1 or more; received '0'" in capsys.readouterr().err
    assert main(["search", str(model_path), str(rules), "--sample", "0", "-o", str(tmp_path / "z")]) == 2
    assert "argument --sample: takes a whole number, 1 or more; received '0'" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_search_says_so_when_a_worker_process_dies(tmp_path, capsys, keras, monkeypatch):
    (tmp_path / "dying.py").write_text(
        "import multiprocessing, os\nimport keras\n\n"
        "class Fragile(keras.layers.Dense):\n"
        "    def build(self, shape):\n"
        "        if multiprocessing.parent_process() is not None:\n"
        "            os._exit(3)  # a worker killed mid-build, as by the out-of-memory killer\n"
        "        super().build(shape)\n\n"
        "custom_objects = {'Fragile': Fragile}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from dying import Fragile

    x = keras.Input((4,))
    keras.Model(x, Fragile(2, name="fc")(x)).save(tmp_path / "m.keras")
    (tmp_path / "r.rw").write_text("param act = relu in [relu, tanh]\nDense.activation := $act\n")
    code = main(["search", "m.keras", "r.rw", "--grid", "-o", "out", "--jobs", "2", "--custom-objects", "dying"])
    assert code == 1
    assert "a worker process ended without a result" in capsys.readouterr().err
    assert not (tmp_path / "out" / "index.json").exists() and not list((tmp_path / "out").glob("*.keras"))


def _declared(rs):
    """The trial values KerasTuner's defaults give, and the hyperparameters declared, by name."""
    keras_tuner = pytest.importorskip("keras_tuner")
    from rewrite.tuner import declare

    hp = keras_tuner.HyperParameters()
    return declare(hp, rs.space()), {p.name: p for p in hp.space}


def test_keras_tuner_search_over_a_rule_set(head_model, tmp_path):
    keras_tuner = pytest.importorskip("keras_tuner")
    from rewrite.tuner import RewriteHyperModel

    rs = rewrite.from_text(
        "param act = relu in [relu, tanh]\nparam width = 16 in range(16, 32, step=16)\n"
        "param rate = 0.2 in range(0.0, 0.4, step=0.2)\nparam fixed = 1\n"
        'Dense[name = "fc1"].activation := $act\nDense[name = "fc1"].units := $width using weights=widen\n'
        "Dropout.rate := $rate\nDense[name = \"out\"].units := 3 * $fixed\n"
    )
    values, declared = _declared(rs)
    assert values == {"act": "relu", "width": 16, "rate": 0.2, "fixed": 1}
    kinds = {name: type(p).__name__ for name, p in declared.items()}
    assert kinds == {"act": "Choice", "width": "Int", "rate": "Float", "fixed": "Fixed"}
    with pytest.raises(ValueError, match="needs a compiled base model"):
        RewriteHyperModel(head_model, rs)
    head_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 8)).astype("float32"), rng.integers(0, 3, 32)
    tuner = keras_tuner.RandomSearch(
        RewriteHyperModel(head_model, rs), objective="val_loss", max_trials=2, seed=3, directory=str(tmp_path), overwrite=True
    )
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    trials = tuner.oracle.get_best_trials(2)
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    best = tuner.get_best_models(1)[0]
    assert best.get_layer("fc1").units == trials[0].hyperparameters.values["width"]
    assert head_model.get_layer("fc1").units == 16  # the base is never changed


def test_keras_tuner_takes_choices_it_cannot_hold_as_they_are(keras, tmp_path):
    keras_tuner = pytest.importorskip("keras_tuner")
    from rewrite.tuner import RewriteHyperModel, decode

    rs = rewrite.from_text(
        "param k = (3, 3) in [(1, 1), (3, 3)]\nparam pad = none in [none, 2]\nparam m = 2 in [2, 2.5]\n"
        "param shape = (4, 4)\nparam act = relu in [relu, tanh]\n"
        'Conv2D[name = "conv"].kernel_size := $k using weights=reinit\nConv2D.activation := $act\n'
    )
    values, hps = _declared(rs)
    assert values == {"k": (3, 3), "pad": None, "m": 2, "shape": (4, 4), "act": "relu"}
    declared = {name: (type(p).__name__, getattr(p, "values", None)) for name, p in hps.items()}
    assert declared["k"] == ("Choice", ["(1, 1)", "(3, 3)"]) and declared["pad"] == ("Choice", ["None", "2"])
    assert declared["m"] == ("Choice", ["2", "2.5"]) and declared["act"] == ("Choice", ["relu", "tanh"])
    assert decode(rs.space(), {"k": "(1, 1)", "pad": "2", "m": "2.5", "shape": "(4, 4)", "act": "tanh"}) == {
        "k": (1, 1), "pad": 2, "m": 2.5, "shape": (4, 4), "act": "tanh"
    }
    x = keras.Input((6, 6, 2))
    base = keras.Model(x, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(x))))
    base.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    data = rng.standard_normal((16, 6, 6, 2)).astype("float32"), rng.standard_normal((16, 2)).astype("float32")
    grid = rewrite.from_text(
        "param k = (3, 3) in [(1, 1), (3, 3)]\nparam act = relu in [relu, tanh]\n"
        'Conv2D[name = "conv"].kernel_size := $k using weights=reinit\nConv2D.activation := $act\n'
    )
    tuner = keras_tuner.GridSearch(RewriteHyperModel(base, grid), objective="loss", max_trials=4, directory=str(tmp_path), overwrite=True)
    tuner.search(*data, epochs=1, verbose=0)
    trials = tuner.oracle.get_best_trials(4)
    picked = [decode(grid.space(), t.hyperparameters.values) for t in trials]
    assert sorted((p["k"], p["act"]) for p in picked) == [((1, 1), "relu"), ((1, 1), "tanh"), ((3, 3), "relu"), ((3, 3), "tanh")]
    for t, p in zip(trials, picked):  # each trial's model has the kernel its hyperparameters name
        assert tuple(tuner.load_model(t).get_layer("conv").kernel_size) == p["k"]
    assert base.get_layer("conv").kernel_size == (3, 3)


def test_signature_tells_replacements_apart(head_model):
    rs = rewrite.from_text("param act = relu in [relu, gelu]\nreplace Dropout with Activation($act)\n")
    a, b, c = (rewrite.plan(head_model, rs, params={"act": act}).signature for act in ("relu", "gelu", "relu"))
    assert a == c and a != b


def test_a_loaded_model_s_variants_check_their_config_layer_by_layer(head_model, tmp_path, monkeypatch):
    from rewrite.cli.options import loaded_model_cache
    from rewrite.validation import checks

    path = tmp_path / "head.keras"
    head_model.save(path)
    base = rewrite.keras_archive.load_keras(path)
    whole = []
    rebuild = checks.keras.saving.deserialize_keras_object
    monkeypatch.setattr(checks.keras.saving, "deserialize_keras_object", lambda c, **k: (whole.append(c.get("class_name")), rebuild(c, **k))[1])
    rules = rewrite.from_text('param act = tanh in [tanh, gelu]\nDense[name = "fc1"].activation := $act')
    built = list(variants(rules, base, rules.grid(), validate="config", cache=loaded_model_cache(str(path), base)))
    assert [v.report.passed for v in built] == [True, True]
    details = [next(c.detail for c in v.report.validation if c.kind == "config-round-trip") for v in built]
    assert all("the graph as an earlier variant or the loaded model had it" in d for d in details), details
    assert "Functional" not in whole and "Model" not in whole  # no second whole model was built
    inserted = rewrite.from_text('insert Dropout(rate=0.1) after Dense[name = "fc1"]')
    result = rewrite.apply(base, inserted, validate="config", cache=loaded_model_cache(str(path), base))
    detail = next(c.detail for c in result.report.validation if c.kind == "config-round-trip")
    assert result.report.passed and detail == "get_config -> from_config (safe mode)"  # a new graph: rebuilt whole
    assert "Functional" in whole
    unseeded = loaded_model_cache("rewrite.zoo:mlp", base)  # not from a file: its graph is not known to deserialize
    assert unseeded.config_memo is None
