"""The validation checks fail when they should (each check on a broken input)."""

from __future__ import annotations

import numpy as np
import pytest

from rewrite.lang import ast
from rewrite.planner.plan import OutputExpectation
from rewrite.report.data import Drift
from rewrite.validation.checks import check_expectations, check_kept_weights, check_well_formed
from rewrite.validation.outputs import compute, drift
from rewrite.validation.probe import make_probe

from .conftest import to_numpy


def test_kept_weights_catches_a_changed_value(keras):
    a = keras.Variable(np.ones((2, 2), "float32"), name="k")
    b = keras.Variable(np.ones((2, 2), "float32"), name="k")
    assert check_kept_weights([("l/k", a, b)]).status == "passed"
    b.assign(np.array([[1, 1], [1, 1.0000001]], "float32"))
    result = check_kept_weights([("l/k", a, b)])
    assert result.status == "failed" and "l/k" in result.detail


def test_kept_weights_compare_bits_and_casts(keras):
    def check(x, y):
        return check_kept_weights([("l/k", keras.Variable(x, name="k"), keras.Variable(y, name="k"))]).status

    nan = np.array([1.0, np.nan], "float32")
    assert check(nan, nan.copy()) == "passed"  # the same bits, NaN included
    assert check(np.zeros(2, "float32"), np.array([0.0, -0.0], "float32")) == "failed"  # equal, not the same bits
    assert check(np.ones(2, "float32"), np.ones(3, "float32")) == "failed"
    x = np.array([0.1, 2.5], "float32")
    half = x.astype("float16")  # a dtype every backend holds as asked (JAX keeps float64 as float32)
    assert check(x, half) == "passed"  # a dtype rule's cast
    assert check(x, np.nextafter(half, np.float16(np.inf))) == "failed"  # the right dtype, not what the cast gives


def test_well_formed_catches_duplicate_names(keras):
    x = keras.Input((2,))
    m = keras.Model(x, keras.layers.Dense(2, name="a")(keras.layers.Dense(2, name="b")(x)))
    assert check_well_formed(m).status == "passed"
    m.get_layer("b").name = "a"
    result = check_well_formed(m)
    assert result.status == "failed" and "`a` appears 2 times" in result.detail


def test_logits_are_taken_before_a_final_softmax(keras):
    x = keras.Input((3,))
    h = keras.layers.Dense(4, name="h")(x)
    m = keras.Model(x, [keras.layers.Dense(2, activation="softmax", name="p")(h), keras.layers.Activation("sigmoid", name="s")(h)])
    xv = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    out = compute(m, xv)
    p = m.get_layer("p")
    hv = to_numpy(m.get_layer("h")(xv))
    np.testing.assert_allclose(out.logits["p"], hv @ p.kernel.numpy() + p.bias.numpy(), atol=1e-6)
    np.testing.assert_allclose(out.logits["s"], hv, atol=1e-6)
    same = drift(out, out)
    assert {(d.output, d.kind) for d in same} == {("p", "output"), ("p", "logits"), ("s", "output"), ("s", "logits")}
    assert all(d.max_abs == 0 for d in same)


def test_expectations():
    small = [Drift(output="y", kind="output", max_abs=1e-7, max_rel=1e-7)]
    big = [Drift(output="y", kind="logits", max_abs=0.5, max_rel=0.1)]
    eq = OutputExpectation(ast.ExpectOutputs(outcome="equal"), rule="r")
    ch = OutputExpectation(ast.ExpectOutputs(outcome="changed"), rule="r")
    assert [r.status for r in check_expectations(small, [eq, ch])] == ["passed", "failed"]
    assert [(r.kind, r.status) for r in check_expectations(big, [eq, ch])] == [("expect-equal", "failed"), ("expect-changed", "passed")]
    loose = OutputExpectation(ast.ExpectOutputs(outcome="equal", atol=1.0), transform="fold_batchnorm", file="f.rw", line=3)
    (checked,) = check_expectations(big, [loose])
    assert checked.status == "passed" and checked.name == "expect outputs equal (rule fold_batchnorm, f.rw:3)"


def test_probe_gives_images_of_unknown_size_room_for_every_kernel(keras):
    # Three 5x5 stride-2 valid convolutions need at least 29 pixels a side; on a
    # smaller input TensorFlow's CPU kernels return garbage instead of raising.
    x = keras.Input((None, None, 3))
    h = x
    for i in range(3):
        h = keras.layers.Conv2D(4, 5, strides=2, padding="valid", name=f"c{i}")(h)
    m = keras.Model(x, keras.layers.GlobalAveragePooling2D(name="pool")(h))
    xv = make_probe(m)
    assert xv.shape == (4, 64, 64, 3)
    first, second = compute(m, xv), compute(m, xv)
    assert np.array_equal(first.outputs["pool"], second.outputs["pool"])
    assert np.all(np.isfinite(first.outputs["pool"]))
    s_in = keras.Input((None, 5))
    assert make_probe(keras.Model(s_in, keras.layers.Dense(2)(s_in))).shape == (4, 8, 5)


def test_probe_spans_the_pixel_range_a_rescaling_with_offset_expects(keras):
    x = keras.Input((4, 4, 3))
    m = keras.Model(x, keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(x))
    scaled = np.asarray(m(make_probe(m)))
    assert scaled.min() < -0.9 and scaled.max() > 0.9 and scaled.min() >= -1 and scaled.max() <= 1


def overflowing_model(keras):
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(4, name="big")(x)
    m = keras.Model(x, keras.layers.Dense(2, activation="softmax", name="out")(h))
    big = m.get_layer("big")
    big.kernel.assign(np.full((4, 4), 1e30, "float32"))
    m.get_layer("out").kernel.assign(np.full((4, 2), 1e30, "float32"))
    return m


def test_an_original_that_overflows_on_the_probe_is_refused_by_name(keras):
    import rewrite

    m = overflowing_model(keras)
    with pytest.raises(rewrite.ValidationFailure) as info:
        rewrite.apply(m, "Dense[name = \"big\"].activation := tanh")
    message = str(info.value)
    assert "probe" in message and "`out`" in message and "not finite" in message and "--probe" in message
    # With inputs the model is meant for, the same rewrite validates.
    result = rewrite.apply(m, "Dense[name = \"big\"].activation := tanh", probe=np.zeros((3, 4), "float32"))
    assert result.report.passed
    assert {c.name: c.status for c in result.report.validation}["probe"] == "passed"


def test_config_memo_rebuilds_only_new_layer_configs_and_still_catches_them(keras):
    from rewrite.validation.checks import ConfigMemo, check_config_round_trip

    @keras.saving.register_keras_serializable(package="memo_test")
    class Forgetful(keras.layers.Layer):
        """Leaves `units` out of its config: only the default width round-trips."""

        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")

        def call(self, x):
            return x @ self.w

        def get_config(self):
            return {k: v for k, v in super().get_config().items() if k != "units"}

    def model(units, act):
        x = keras.Input((3,), name="x")
        h = keras.layers.Dense(5, activation=act, name="fc")(x)
        return keras.Model(x, Forgetful(units, name="odd")(h), name="variant")

    memo = ConfigMemo()
    first = check_config_round_trip(model(4, "relu"), None, True, memo)
    assert first.status == "passed" and "earlier variant" not in first.detail
    assert len(memo.structures) == 1 and len(memo.layers) == 3
    second = check_config_round_trip(model(4, "tanh"), None, True, memo)
    assert second.status == "passed" and "1 new layer config(s) rebuilt" in second.detail
    third = check_config_round_trip(model(7, "relu"), None, True, memo)
    assert third.status == "failed" and "`odd`" in third.detail
    # Without the memo the whole model is rebuilt, with the same verdict.
    assert check_config_round_trip(model(7, "relu"), None, True).status == "failed"


def test_config_memo_takes_sequential_models(keras):
    # A Sequential's config lists its InputLayer, which `model.layers` leaves out.
    from rewrite.validation.checks import ConfigMemo, check_config_round_trip

    def model(act):
        return keras.Sequential(
            [keras.Input((3,), name="x"), keras.layers.Dense(4, activation=act, name="a"), keras.layers.Dense(2, name="b")], name="s"
        )

    memo = ConfigMemo()
    assert check_config_round_trip(model("relu"), None, True, memo).status == "passed"
    second = check_config_round_trip(model("tanh"), None, True, memo)
    assert second.status == "passed" and "1 new layer config(s) rebuilt" in second.detail
