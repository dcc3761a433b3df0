"""`:=` end to end: outputs against a numpy reference, weights bit for bit, save/reload."""

from __future__ import annotations

import numpy as np
import pytest

import rewrite
from rewrite.errors import MatchError, PlanError, ValidationFailure, WeightPolicyError

from .conftest import to_numpy, weights_of


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def head_reference(model, x, act):
    """The head model's forward pass in numpy, from the original model's weights."""
    w = {v.path: v.numpy() for v in model.weights}
    h = act(x @ w["fc1/kernel"] + w["fc1/bias"])
    eps = model.get_layer("bn").epsilon
    h = (h - w["bn/moving_mean"]) / np.sqrt(w["bn/moving_variance"] + eps) * w["bn/gamma"] + w["bn/beta"]
    h = act(h @ w["fc2/kernel"] + w["fc2/bias"])
    logits = h @ w["out/kernel"] + w["out/bias"]
    return logits, _softmax(logits)


def test_relu_to_tanh_matches_numpy_reference(head_model, probe, tmp_path):
    before_weights = weights_of(head_model)
    before_out = to_numpy(head_model(probe))
    result = rewrite.apply(head_model, 'Dense[name ~ "fc*"].activation := tanh')
    new = result.model
    assert new is not head_model
    logits, expected = head_reference(head_model, probe, np.tanh)
    np.testing.assert_allclose(to_numpy(new(probe)), expected, atol=1e-5)
    # every weight kept, bit for bit (BatchNormalization statistics included)
    after = weights_of(new)
    assert after.keys() == before_weights.keys()
    for path, value in before_weights.items():
        assert np.array_equal(after[path], value), path
    # the input model is untouched
    assert head_model.get_layer("fc1").get_config()["activation"] == "relu"
    np.testing.assert_array_equal(to_numpy(head_model(probe)), before_out)
    for path, value in weights_of(head_model).items():
        assert np.array_equal(value, before_weights[path])
    # saved and reloaded, it computes the same
    path = tmp_path / "m.keras"
    result.save(str(path))
    import keras

    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(probe)), to_numpy(new(probe)))
    # the report
    rep = result.report
    assert rep.passed
    assert [(c.layer, c.field, c.old, c.new) for c in rep.changes] == [
        ("fc1", "activation", "relu", "tanh"),
        ("fc2", "activation", "relu", "tanh"),
    ]
    assert rep.statements[0].matches == ["fc1", "fc2"]
    assert rep.statements[0].near_misses[0].layer == "out"
    assert "name is out" in rep.statements[0].near_misses[0].reason
    assert rep.weights.copied == len(before_weights)
    assert {c.name: c.status for c in rep.validation} == {
        "probe": "passed",
        "well formed": "passed",
        "config round trip": "passed",
        "save/load .keras": "passed",
        "kept weights": "passed",
        "weight accounting": "passed",
        "changes in effect": "passed",
        "changes kept by a reload": "passed",
        "finite outputs": "passed",
    }
    drift = {(d.output, d.kind): d for d in rep.drift}
    real_logits = head_reference(head_model, rewrite_probe(head_model), np.tanh)[0]
    orig_logits = head_reference(head_model, rewrite_probe(head_model), lambda z: np.maximum(z, 0))[0]
    assert drift[("out", "logits")].max_abs == pytest.approx(np.max(np.abs(real_logits - orig_logits)), rel=1e-4)
    assert drift[("out", "output")].max_abs > 0
    assert rep.to_dict()["statements"][0]["changes"][0]["new"] == "tanh"
    assert "fc1    activation  relu  tanh" in rep.render()


def rewrite_probe(model):
    from rewrite.validation.probe import make_probe

    return make_probe(model)


def test_unchanged_value_is_a_skip_with_reason(head_model):
    result = rewrite.apply(head_model, 'Dense[name = "fc1"].activation := relu')
    stmt = result.report.statements[0]
    assert stmt.matches == ["fc1"] and stmt.changes == []
    assert stmt.skips[0].reason == "activation is already relu"


def test_statements_run_in_order_and_see_the_plan(head_model):
    text = 'Dense[name = "fc1"].activation := tanh\nDense[activation = tanh].units := @units * 2 using weights=reinit'
    result = rewrite.apply(head_model, text)
    assert result.model.get_layer("fc1").units == 32
    assert result.report.statements[1].matches == ["fc1"]


def test_a_statement_never_rematches_its_own_output(head_model):
    result = rewrite.apply(head_model, "Dense[units < 20].units := @units + 10 using weights=reinit")
    assert [result.model.get_layer(n).units for n in ("fc1", "fc2", "out")] == [26, 22, 13]


def test_field_arithmetic_params_and_using_policies(head_model, probe):
    rs = rewrite.from_text("param w = 32 in [16, 32]\nDense[name = \"fc1\"].units := $w using weights=slice")
    result = rs.apply(head_model)
    new = result.model
    assert new.get_layer("fc1").units == 32
    old_k = head_model.get_layer("fc1").kernel.numpy()
    new_k = new.get_layer("fc1").kernel.numpy()
    assert np.array_equal(new_k[:, :16], old_k)
    old_k2 = head_model.get_layer("fc2").kernel.numpy()
    assert np.array_equal(new.get_layer("fc2").kernel.numpy()[:16], old_k2)
    assert np.array_equal(new.get_layer("out").kernel.numpy(), head_model.get_layer("out").kernel.numpy())
    sliced = {(a.layer, a.weight) for a in result.report.weights.actions if a.action == "sliced"}
    assert ("fc1", "kernel") in sliced and ("fc2", "kernel") in sliced and ("bn", "moving_mean") in sliced
    # the new columns are freshly initialized, not zeros
    assert np.abs(new_k[:, 16:]).sum() > 0
    # bn statistics: old block kept; new units start at the initializer's values
    assert np.array_equal(new.get_layer("bn").moving_variance.numpy()[16:], np.ones(16, "float32"))
    smaller = rs.apply(head_model, params={"w": 16})
    assert smaller.report.statements[0].skips[0].reason == "units is already 16"


def test_reinit_reports_each_weight(head_model):
    result = rewrite.apply(head_model, 'Dense[name = "fc2"].units := 4 using weights=reinit')
    actions = {(a.layer, a.weight): (a.action, a.old_shape, a.new_shape) for a in result.report.weights.actions}
    assert actions[("fc2", "kernel")] == ("reinitialized", [16, 12], [16, 4])
    assert actions[("out", "kernel")] == ("reinitialized", [12, 3], [4, 3])
    assert ("out", "bias") not in actions  # same shape: kept
    assert np.array_equal(result.model.get_layer("out").bias.numpy(), head_model.get_layer("out").bias.numpy())


def test_keep_policy_names_layer_weight_shapes_and_fix(head_model):
    with pytest.raises(WeightPolicyError) as info:
        rewrite.apply(head_model, 'Dense[name = "fc1"].units := 32')
    err = info.value
    assert (err.layer, err.weight, err.old_shape, err.new_shape) == ("fc1", "kernel", (8, 16), (8, 32))
    assert "using weights=reinit" in str(err) and "using weights=slice" in str(err)
    assert '`Dense[name = "fc1"].units := 32`' in str(err)


def test_use_bias_toggle(head_model, probe):
    off = rewrite.apply(head_model, 'Dense[name = "out"].use_bias := false')
    dropped = [(a.layer, a.weight, a.action) for a in off.report.weights.actions]
    assert dropped == [("out", "bias", "dropped")]
    with pytest.raises(WeightPolicyError, match="no source in the original"):
        rewrite.apply(off.model, 'Dense[name = "out"].use_bias := true')
    on = rewrite.apply(off.model, 'Dense[name = "out"].use_bias := true using weights=reinit')
    assert on.model.get_layer("out").bias is not None


def test_rename_and_name_clash(head_model):
    result = rewrite.apply(head_model, 'Dense[name = "out"].name := "logits_layer"')
    assert result.model.get_layer("logits_layer") is not None
    with pytest.raises(PlanError, match="same name"):
        rewrite.apply(head_model, 'Dense[name = "out"].name := "fc1"')


def test_expect_matches_strict_and_warning(head_model):
    rs = rewrite.from_text("rule r {\n Conv2D.filters := 3\n expect matches >= 1\n}")
    with pytest.raises(MatchError, match="expects matches >= 1, but its statements matched 0"):
        rs.apply(head_model)
    loose = rewrite.apply(head_model, "Conv2D.filters := 3")
    assert "matched no layer" in loose.report.statements[0].warnings[0]
    with pytest.raises(MatchError, match="--strict"):
        rewrite.apply(head_model, "Conv2D.filters := 3", strict=True)


def test_expect_outputs_equal_fails_and_leaves_input(head_model, tmp_path):
    text = "rule r {\n Dense[name = \"fc1\"].activation := tanh\n expect outputs equal\n}"
    with pytest.raises(ValidationFailure) as info:
        rewrite.apply(head_model, text)
    report = info.value.report
    failed = [c for c in report.validation if c.status == "failed"]
    assert failed and failed[0].name.startswith("expect outputs equal")
    assert head_model.get_layer("fc1").get_config()["activation"] == "relu"
    ok = rewrite.apply(head_model, "rule r {\n Dropout.rate := 0.25\n expect outputs equal atol=0\n}")
    assert ok.report.passed


def test_expect_outputs_changed_fails_for_a_no_op(head_model):
    with pytest.raises(ValidationFailure, match="must exceed"):
        rewrite.apply(head_model, "rule r {\n Dropout.rate := 0.2\n expect outputs changed\n}")


def test_validate_levels(head_model):
    none = rewrite.apply(head_model, "Dropout.rate := 0.2", validate="none")
    assert none.report.validation == [] and none.report.drift == []
    config = rewrite.apply(head_model, "Dropout.rate := 0.2", validate="config")
    assert [c.name for c in config.report.validation] == [
        "probe", "well formed", "changes in effect", "config round trip", "changes kept by a reload", "finite outputs",
        "kept weights", "weight accounting",
    ]
    assert config.report.validation[3].detail.startswith("get_config -> from_config")
    assert config.report.validation[4].detail == "1 field change(s) and the set of trainable variables read back after get_config -> from_config"
    assert config.report.drift  # the model was run: its outputs moved by nothing, and that is measured
    with pytest.raises(ValueError, match="validate must be"):
        rewrite.apply(head_model, "Dropout.rate := 0.2", validate="some")


def test_matching_fields_and_aliases(keras):
    x = keras.Input((4,), name="inp")
    a = keras.layers.Dense(4, activation="swish", name="a")(x)
    b = keras.layers.Dense(4, activation="silu", name="b", trainable=False)(a)
    c = keras.layers.Dense(2, name="c")(b)
    m = keras.Model(x, c)
    plan = rewrite.plan(m, "Dense[activation = swish].activation := gelu")
    assert plan.statements[0].matches == ["a", "b"]
    assert rewrite.plan(m, "Dense[activation = silu].activation := gelu").statements[0].matches == ["a", "b"]
    assert rewrite.plan(m, "Dense[params > 10].units := 3").statements[0].matches == ["a", "b"]
    assert rewrite.plan(m, "Dense[index >= 1].units := 3").statements[0].matches == ["b", "c"]
    assert rewrite.plan(m, "Dense[trainable = false].units := 3").statements[0].matches == ["b"]
    assert rewrite.plan(m, 'Dense[class = "Dense", path ~ "?"].units := 3').statements[0].matches == ["a", "b", "c"]
    assert rewrite.plan(m, "Dense[name in [a, c]].units := 3").statements[0].matches == ["a", "c"]
    assert rewrite.plan(m, "Dense[name not in [a, c]].units := 3").statements[0].matches == ["b"]
    assert rewrite.plan(m, "Dense[name ~ /^[ab]$/].units := 3").statements[0].matches == ["a", "b"]
    assert rewrite.plan(m, "Dense[units = @units].units := 3").statements[0].matches == ["a", "b", "c"]
    assert rewrite.plan(m, "*[activation = linear].activation := relu").statements[0].matches == ["c"]
    near = rewrite.plan(m, "Dense[units = 4, activation = silu].activation := gelu").statements[0].near_misses
    assert [(n.layer, n.reason) for n in near] == [
        ("c", "class Dense ok, units is 2, wanted = 4"),
    ]


def test_statement_rejects_bad_value_for_custom_field(head_model):
    with pytest.raises(PlanError, match="has no field `kernel_size` to set"):
        rewrite.apply(head_model, "Layer[name = \"fc1\"].kernel_size := 3")


def test_widen_preserves_the_function(head_model, probe, tmp_path):
    text = 'rule w {\n Dense[name = "fc1"].units := 40 using weights=widen\n expect outputs equal atol=1e-5\n}'
    result = rewrite.apply(head_model, text)
    new = result.model
    assert new.get_layer("fc1").units == 40 and new.get_layer("fc2").kernel.shape == (40, 12)
    np.testing.assert_allclose(to_numpy(new(probe)), to_numpy(head_model(probe)), atol=1e-5)
    _, logits = head_reference(head_model, probe, lambda z: np.maximum(z, 0))
    widened = {(a.layer, a.weight) for a in result.report.weights.actions if a.action == "widened"}
    assert {("fc1", "kernel"), ("fc1", "bias"), ("bn", "moving_mean"), ("fc2", "kernel")} <= widened
    old_k = head_model.get_layer("fc1").kernel.numpy()
    assert np.array_equal(new.get_layer("fc1").kernel.numpy()[:, :16], old_k)  # the first units are the old ones
    result.save(str(tmp_path / "w.keras"))


def test_widen_convolutions(keras):
    x = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="r")(h)
    h = keras.layers.Conv2D(5, 3, padding="same", name="c2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    m = keras.Model(x, keras.layers.Dense(2, name="d")(h))
    bn = m.get_layer("bn")
    bn.moving_mean.assign(np.array([0.1, -0.2, 0.3, 0.0], "float32"))
    bn.moving_variance.assign(np.array([1.5, 0.5, 2.0, 1.0], "float32"))
    xv = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    for text in ('Conv2D[name = "c1"].filters := 9 using weights=widen', 'Conv2D[name = "c2"].filters := 8 using weights=widen'):
        result = rewrite.apply(m, f"rule w {{\n {text}\n expect outputs equal atol=1e-5\n}}")
        np.testing.assert_allclose(to_numpy(result.model(xv)), to_numpy(m(xv)), atol=1e-5)


def test_widen_refuses_what_it_cannot_adjust(head_model, keras):
    with pytest.raises(PlanError, match="the output of `out` is a model output"):
        rewrite.apply(head_model, 'Dense[name = "out"].units := 5 using weights=widen')
    with pytest.raises(PlanError, match="needs more units than 16"):
        rewrite.apply(head_model, 'Dense[name = "fc1"].units := 8 using weights=widen')
    x = keras.Input((4, 4, 2))
    h = keras.layers.Conv2D(3, 3, padding="same", name="c")(x)
    m = keras.Model(x, keras.layers.Dense(2, name="d")(keras.layers.Flatten(name="flat")(h)))
    with pytest.raises(PlanError, match=r"it feeds `flat` \(Flatten\), which mixes units"):
        rewrite.apply(m, "Conv2D.filters := 6 using weights=widen")


def test_user_probe_is_used_for_drift(head_model, probe):
    result = rewrite.apply(head_model, 'Dense[name ~ "fc*"].activation := tanh', probe=probe)
    _, expected_new = head_reference(head_model, probe, np.tanh)
    _, expected_old = head_reference(head_model, probe, lambda z: np.maximum(z, 0))
    drift = {(d.output, d.kind): d.max_abs for d in result.report.drift}
    assert drift[("out", "output")] == pytest.approx(np.max(np.abs(expected_new - expected_old)), abs=1e-6)
