"""Mutated rule text (every example in docs/ and rules/, bytes flipped, deleted,
duplicated) raises only RuleSyntaxError or RuleCheckError, with a location."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rewrite
from rewrite.errors import RuleCheckError, RuleSyntaxError

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```rw\n(.*?)^```", re.S | re.M)
EXAMPLES = [p.read_text() for p in sorted(ROOT.glob("rules/**/*.rw"))] + [
    m.group(1) for p in sorted(ROOT.glob("docs/*.md")) for m in FENCE.finditer(p.read_text())
]
EXAMPLES = [e.replace('use "', '# use "') for e in EXAMPLES]  # `use` needs files on disk

mutation = st.tuples(st.sampled_from(["flip", "delete", "duplicate"]), st.floats(0, 1), st.integers(0, 255), st.integers(1, 12))


def mutate(text: str, edits: list[tuple[str, float, int, int]]) -> str:
    data = bytearray(text.encode())
    for kind, where, byte, length in edits:
        if not data:
            break
        pos = int(where * (len(data) - 1))
        if kind == "flip":
            data[pos] = byte
        elif kind == "delete":
            del data[pos : pos + length]
        else:
            data[pos:pos] = data[pos : pos + length]
    return data.decode("utf-8", errors="replace")


# KERAS_REWRITE_FUZZ_EXAMPLES=20000 for a longer run than CI's.
EXAMPLES_TO_RUN = int(os.environ.get("KERAS_REWRITE_FUZZ_EXAMPLES", "400"))


@settings(max_examples=EXAMPLES_TO_RUN, deadline=None)
@given(st.sampled_from(EXAMPLES), st.lists(mutation, min_size=1, max_size=5))
def test_mutated_rules_fail_only_with_located_rule_errors(text, edits):
    source = mutate(text, edits)
    try:
        rewrite.from_text(source, "fuzz.rw")
    except RuleSyntaxError as err:
        assert err.line >= 1 and err.column >= 1 and str(err).startswith("fuzz.rw:")
    except RuleCheckError as err:
        assert err.diagnostics and all(d.file == "fuzz.rw" and d.line >= 1 for d in err.diagnostics)


@settings(max_examples=max(EXAMPLES_TO_RUN // 2, 1), deadline=None)
@given(st.text(max_size=200))
def test_random_text_fails_only_with_rule_errors(source):
    with contextlib.suppress(RuleSyntaxError, RuleCheckError):
        rewrite.from_text(source, "fuzz.rw")


def test_deep_nesting_and_huge_input_are_bounded():
    import pytest

    for text in ("Dense.units := " + "-" * 5000 + "1", "Dense.units := " + "[" * 3000 + "1" + "]" * 3000):
        with pytest.raises(RuleSyntaxError, match="nested more than 100 levels deep") as info:
            rewrite.from_text(text, "deep.rw")
        assert info.value.line == 1 and info.value.label == "too deep"
    rewrite.from_text("Dense.units := " + "-" * 40 + "1" + "\n")  # ordinary nesting is fine
    with pytest.raises(RuleSyntaxError, match="over the limit"):
        rewrite.from_text("# " + "x" * 2_100_000)


def test_unreadable_strings_are_syntax_errors():
    import pytest

    for text in ('Dense[name = "a\x00b"].units := 3', 'Dense.name := "\\N{nope}"'):
        with pytest.raises(RuleSyntaxError, match="this string cannot be read") as info:
            rewrite.from_text(text, "s.rw")
        assert info.value.label == "bad string" and info.value.line == 1


# ---------------------------------------------------------------- rules and values against a model

FIELDS = ["activation", "units", "rate", "epsilon", "momentum", "trainable", "name", "use_bias", "dtype", "center", "axis", "seed"]
CLASSES = ["Dense", "Dropout", "BatchNormalization", "*", "(Dense | Dropout)", "Layer"]
value = st.one_of(
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.booleans(),
    st.sampled_from(["relu", "tanh", "gelu", "linear", "float16", "int8", "bfloat16", "mixed_float16", "a/b", "", "none"]),
    st.text(alphabet="abc_/.-", max_size=6),
)


def _literal(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return "1e400" if v == float("inf") else "-1e400" if v == float("-inf") else "0.0"
    if isinstance(v, str):
        return '"' + v.replace("\\\\", "").replace('"', "") + '"'
    return repr(v)


@pytest.fixture(scope="module")
def small_model():
    import keras

    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="fc1")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax", name="out")(h))


@settings(max_examples=max(EXAMPLES_TO_RUN // 8, 1), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(CLASSES), st.sampled_from(FIELDS), value), min_size=1, max_size=3), value)
def test_rules_and_values_against_a_model_fail_only_with_rewrite_errors(small_model, statements, param_value):
    text = "param p = 1\n" + "\n".join(f"{cls}.{field} := {_literal(v)}" for cls, field, v in statements)
    text += '\nDense[name = "out"].units := $p * 0 + 3'  # a param every draw sets
    weights = [w.numpy().copy() for w in small_model.weights]
    for params in ({}, {"p": param_value}):
        with contextlib.suppress(rewrite.RewriteError):  # the product's own error: expected for many of these
            rewrite.apply(small_model, text, params=params, validate="config")
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(weights, small_model.weights))  # the input untouched
