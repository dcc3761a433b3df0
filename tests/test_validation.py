"""The validation checks fail when they should (each check on a broken input)."""

from __future__ import annotations

import numpy as np

from rewrite import ast
from rewrite.report import Drift
from rewrite.validation import (
    check_expectations,
    check_kept_weights,
    check_well_formed,
    compute,
    drift,
)

from .conftest import to_numpy


def test_kept_weights_catches_a_changed_value(keras):
    a = keras.Variable(np.ones((2, 2), "float32"), name="k")
    b = keras.Variable(np.ones((2, 2), "float32"), name="k")
    assert check_kept_weights([("l/k", a, b)]).status == "passed"
    b.assign(np.array([[1, 1], [1, 1.0000001]], "float32"))
    result = check_kept_weights([("l/k", a, b)])
    assert result.status == "failed" and "l/k" in result.detail


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
    eq, ch = ast.ExpectOutputs(outcome="equal"), ast.ExpectOutputs(outcome="changed")
    assert [r.status for r in check_expectations(small, [("r", eq), ("r", ch)])] == ["passed", "failed"]
    assert [r.status for r in check_expectations(big, [("r", eq), ("r", ch)])] == ["failed", "passed"]
    loose = ast.ExpectOutputs(outcome="equal", atol=1.0)
    assert check_expectations(big, [("r", loose)])[0].status == "passed"
