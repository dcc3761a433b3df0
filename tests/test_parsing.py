"""The grammar and the AST: every form of DESIGN.md's language, and every error label."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import rewrite
from rewrite.errors import RuleSyntaxError
from rewrite.lang import ast
from rewrite.lang.grammar import grammar_text
from rewrite.lang.parser import parse
from rewrite.lang.syntax_errors import COMMON_MISTAKES

ROOT = Path(__file__).resolve().parent.parent

FULL = '''
# a comment
use "common.rw"
param act = relu in [relu, gelu, tanh]
param width = 128 in [64, 128, 256]
param rate = 0.1 in range(0.0, 0.5)
param steps = 2 in range(0, 10, step=2)

rule tanh-head "Use tanh in the head" {
    Dense[name ~ "fc*"].activation := $act   # trailing comment
    expect matches >= 1
    expect outputs changed
}
rule quiet { Dropout[rate != 0.5].rate := 0.1 }
(Conv2D | DepthwiseConv2D)[filters >= 64, padding = "valid"].filters := @filters * 2 + $width // 4 - 1 using weights=reinit
Dense[name ~ /^fc\\d+$/i, activation in [relu, gelu]].units := -(@units / 2)
Conv2D[name !~ "stem*", activation not in [linear]].kernel_size := (3, 3); *.trainable := false
'''


def test_full_language_parses_into_one_model_per_rule():
    f = parse(FULL, "full.rw")
    assert [u.path for u in f.uses] == ["common.rw"]
    assert [p.name for p in f.params] == ["act", "width", "rate", "steps"]
    act, width, rate, steps = f.params
    assert isinstance(act.space, ast.Choice) and [v.name for v in act.space.values] == ["relu", "gelu", "tanh"]
    assert isinstance(rate.space, ast.Range) and rate.space.low.value == 0.0 and rate.space.high.value == 0.5
    assert isinstance(steps.space, ast.Range) and steps.space.step.value == 2
    rule, quiet, conv, dense, conv2, anything = f.body
    assert isinstance(rule, ast.Rule) and rule.id == "tanh-head" and rule.description == "Use tanh in the head"
    assert quiet.description is None and quiet.statements[0].field == "rate"
    (stmt,) = rule.statements
    assert stmt.selector.classes == ["Dense"] and stmt.field == "activation"
    assert isinstance(stmt.value, ast.ParamRef) and stmt.value.name == "act"
    assert stmt.line == 10 and stmt.column == 5 and stmt.file == "full.rw"
    assert stmt.source == 'Dense[name ~ "fc*"].activation := $act'
    assert isinstance(rule.expects[0], ast.ExpectMatches) and rule.expects[0].op == ">=" and rule.expects[0].count == 1
    assert isinstance(rule.expects[1], ast.ExpectOutputs) and rule.expects[1].outcome == "changed"
    assert [a.classes for a in conv.selector.alternatives] == [["Conv2D"], ["DepthwiseConv2D"]]
    assert [p.op for p in conv.selector.predicates] == [">=", "="]
    assert conv.policy == "reinit"
    assert ast.expr_text(conv.value) == "(((@filters * 2) + ($width // 4)) - 1)"
    regex = dense.selector.predicates[0]
    assert isinstance(regex.pattern, ast.Regex) and regex.pattern.pattern == r"^fc\d+$" and regex.pattern.flags == "i"
    assert isinstance(dense.selector.predicates[1], ast.Member) and not dense.selector.predicates[1].negated
    assert isinstance(dense.value, ast.Neg)
    assert conv2.selector.predicates[0].negated and conv2.selector.predicates[1].negated
    assert isinstance(conv2.value, ast.TupleValue) and len(conv2.value.items) == 2
    assert anything.selector.classes == [] and isinstance(anything.value, ast.Bool) and anything.value.value is False


def test_values_literals():
    f = parse('Dense.x := "a"\nDense.x := \'b\'\nDense.x := none\nDense.x := true\nDense.x := [1, 2]\nDense.x := (3,)\nDense.x := 1e-3')
    values = [s.value for s in f.body]
    assert values[0].value == "a" and values[1].value == "b"
    assert isinstance(values[2], ast.NoneValue) and values[3].value is True
    assert isinstance(values[4], ast.ListValue) and isinstance(values[5], ast.TupleValue) and len(values[5].items) == 1
    assert values[6].value == pytest.approx(1e-3)


def test_expect_outputs_equal_with_atol():
    f = parse("rule r {\n Dense.units := 3\n expect outputs equal atol=1e-4\n}")
    assert f.body[0].expects[0].atol == pytest.approx(1e-4)


def test_ast_json_round_trip():
    f = parse(FULL, "full.rw")
    assert ast.RuleFile.model_validate_json(f.model_dump_json()) == f


def test_grammar_is_package_data():
    from importlib import resources

    assert resources.files("rewrite.grammar").joinpath("rules.lark").read_text() == grammar_text()


@pytest.mark.parametrize(
    ("label", "example"),
    [(label, ex) for label, (_, examples) in COMMON_MISTAKES.items() for ex in examples],
)
def test_every_common_mistake_gets_its_label(label, example):
    with pytest.raises(RuleSyntaxError) as info:
        parse(example, "m.rw")
    assert info.value.label == label, str(info.value)
    assert str(info.value).startswith(f"m.rw:{info.value.line}:{info.value.column}: error[syntax]: {label}")


@pytest.mark.parametrize(
    ("text", "label", "line", "column"),
    [
        ('Dense[name ~ "fc*].activation := tanh', "unterminated string", 1, 14),
        ("Dense.x := 'abc", "unterminated string", 1, 12),
        ("Dense[name ~ /fc.activation := tanh", "unterminated regular expression", 1, 14),
        ("Dense[name ~ /(/].units := 3", "invalid regular expression", 1, 14),
        ("Dense.units := 3 using weights=magic", "unknown weight policy", 1, 32),
        ("rule r {\n Dense.units := 3\n expect outputs equal tol=1\n}", "unknown expect option", 3, 2),
        ('Dense[name = "a"\n', "missing `]`", 1, 17),
        ("\n\nDense.activation = tanh", "`=` instead of `:=`", 3, 18),
        ("Dense.units := 3\nexpect outputs changed", "`expect` outside a rule block", 2, 1),
        ("rule r {\n Dense.units := 3\n}\n  expect matches >= 1", "`expect` outside a rule block", 4, 3),
        ("rule r {\n Dense.units := 3\n expect matches >= 1\n", "unclosed rule block", 3, 21),
    ],
)
def test_error_labels_and_positions(text, label, line, column):
    with pytest.raises(RuleSyntaxError) as info:
        parse(text, "e.rw")
    err = info.value
    assert (err.label, err.line, err.column) == (label, line, column), str(err)
    # the offending line, then a caret under the column
    src_line, caret = err.context.splitlines()
    assert caret.index("^") - 4 == column - 1
    assert src_line.strip() == text.splitlines()[line - 1].strip()


def test_unlabelled_error_still_has_location_and_expectation():
    with pytest.raises(RuleSyntaxError) as info:
        parse("param = 3", "p.rw")
    assert info.value.label is None
    assert "p.rw:1:7" in str(info.value) and "expected" in str(info.value)


# ------------------------------------------------------------ the fast driver

_TRICKY = [
    "",
    "\n\n# only a comment\n",
    "Dense.units := 3; Dense.units := 4;",
    'Dense[name ~ "a*"].activation := tanh  # trailing comment',
    "Dense[units > 3,].units := @units * (2 + 3) // -1",
    "Dense.units := \\\n    4",
    "rule r-1 {\n}\nrule r-2 \"d\" { Dense.units := 1 ; expect matches >= 0 }",
    "param p = (1, 2) in [(1, 2), (3, 4)]\nConv2D.kernel_size := $p",
    "param r = 0.1 in range(0.0, 0.5, step=0.1)\nDropout.rate := $r",
    "insert Dropout(0.1, name=\"d\") before Dense[name in [\"a\", 'b']]",
    "replace c:Conv2D -> bn:BatchNormalization with Conv2D(@c.filters, 3)",
    "wrap LSTM in Bidirectional(merge_mode=concat)",
    "delete (Dropout | GaussianNoise)[rate not in [0.5]]",
    "*[name !~ /^keep_\\d+$/i, index < 10].trainable := false",
    "Dense.name := \"x\" + @name\nrule delete { delete Dropout }",
    'use "other.rw"\nDense.units := ((((1))))',
    "Dense.activation := none\nDense.use_bias := true\nDense.units := 1e3",
    'Dense[name = "üñí"].units := 1',
]


@pytest.mark.parametrize("text", _TRICKY)
def test_fast_driver_builds_the_same_ast_as_lark(text):
    assert parse(text, "t.rw") == parse(text, "t.rw", fast=False)


def test_fast_driver_on_the_library_and_a_generated_file():
    from pathlib import Path

    from benchmarks.parser_speed import rule_file

    for path in sorted(Path("rules").rglob("*.rw")):
        text = path.read_text()
        assert parse(text, str(path)) == parse(text, str(path), fast=False), path
    for text in (FULL, rule_file(300)):
        assert parse(text) == parse(text, fast=False)


def test_fast_driver_is_in_use_and_leaves_errors_to_lark():
    from rewrite.lang.parser import _driver

    assert _driver() is not None, "the fast LALR driver did not accept this Lark version"
    for bad in ["Dense.activation = tanh", "Dense[units > 3", "Dense.units := " + "-" * 200 + "1", "Dense[name ~ /(/].units := 1"]:
        with pytest.raises(RuleSyntaxError) as fast:
            parse(bad, "bad.rw")
        with pytest.raises(RuleSyntaxError) as slow:
            parse(bad, "bad.rw", fast=False)
        assert str(fast.value) == str(slow.value)
        assert (fast.value.line, fast.value.column, fast.value.label) == (slow.value.line, slow.value.column, slow.value.label)



def test_parsing_pauses_the_garbage_collector_and_leaves_it_as_found(tmp_path):
    import gc

    import rewrite

    collections = []
    gc.callbacks.append(lambda phase, info: collections.append(info) if phase == "start" else None)
    try:
        text = "\n".join(f'Dense[name = "fc{i}"].units := {i + 1}' for i in range(3000))
        rewrite.from_text(text)  # makes about a hundred times generation 0's threshold of objects
        # at most the one collection the first allocation after the parse sets off
        assert len(collections) <= 1 and gc.isenabled()
        collections.clear()
        with pytest.raises(RuleSyntaxError):
            parse("Dense.units := := 3")
        assert gc.isenabled()  # back on after an error too
        (tmp_path / "r.rw").write_text(text)
        assert rewrite.collect(tmp_path / "r.rw").errors == [] and len(collections) <= 1 and gc.isenabled()
        gc.disable()
        try:
            parse(text)
            assert not gc.isenabled()  # a caller that turned it off keeps it off
        finally:
            gc.enable()
    finally:
        gc.callbacks.pop()


def test_the_fast_parser_says_once_when_it_falls_back_to_larks_own(monkeypatch):
    from rewrite.lang import parser as parser_module

    monkeypatch.setattr(parser_module.Driver, "of", classmethod(lambda cls, lark, transformer: None))
    parser_module._driver.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"fast rule parser does not know this Lark \(1\.\d+"):
            first = rewrite.parse("Dense.activation := tanh")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            second = rewrite.parse("Dense.units := 3")  # said once
    finally:
        parser_module._driver.cache_clear()
    assert first.body[0].field == "activation" and second.body[0].field == "units"


def test_the_parser_benchmark_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.parser_speed", "200", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "median (wall)" in out.stdout and "median (CPU)" in out.stdout and "\n200 " in out.stdout
