"""The Python API as type checkers, IDEs and a REPL see it: typed options, clear
errors for a misspelt one, short reprs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import rewrite
from rewrite.options import OPTION_NAMES

ROOT = Path(__file__).resolve().parent.parent

SNIPPET = """\
from typing import Any

import rewrite

model: Any = None
rewrite.apply(model, "Dense.activation := tanh", valdate="none")
rewrite.apply(model, "Dense.activation := tanh", mode="inplce")
rewrite.from_text("Dense.activation := tanh").apply(model, validate="nope")
rewrite.apply(model, "Dense.activation := tanh", mode="inplace", validate="config", params={"a": 1}, in_memory=True)
rewrite.draw(model, None, engine="graphvis")
rewrite.plan(model, "Dense.activation := tanh", strict=True)
"""


def test_type_checkers_see_every_option(tmp_path):
    (tmp_path / "snippet.py").write_text(SNIPPET)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "/dev/null", "--ignore-missing-imports", "--no-error-summary",
         "--cache-dir", str(tmp_path / "cache"), str(tmp_path / "snippet.py")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    lines = [line for line in out.stdout.splitlines() if "snippet.py" in line and ": error:" in line]
    by_line = {int(line.split(":")[1]): line for line in lines}
    assert 'Unexpected keyword argument "valdate" for "apply"' in by_line[6]
    assert "Literal['inplce']" in by_line[7] and "Literal['clone', 'inplace']" in by_line[7]
    assert "Literal['nope']" in by_line[8] and '"apply" of "RuleSet"' in by_line[8]
    assert "Literal['graphvis']" in by_line[10]
    assert set(by_line) == {6, 7, 8, 10}, out.stdout  # the correct calls pass


@pytest.mark.parametrize("call", ["apply", "RuleSet.apply"])
def test_a_misspelt_option_is_a_type_error_naming_the_function_and_the_options(call):
    target = rewrite.apply if call == "apply" else rewrite.from_text("Dense.activation := tanh").apply
    args = (None, "Dense.activation := tanh") if call == "apply" else (None,)
    with pytest.raises(TypeError, match=rf"^{call}\(\) got an unexpected option `valdate`; did you mean `validate`\? Its options: params, mode, validate") as err:
        target(*args, valdate="none")
    assert all(name in str(err.value) for name in OPTION_NAMES)


def test_reports_results_and_rule_sets_show_a_short_line(keras):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc")], name="tiny")
    rules = rewrite.from_text("param act = tanh in [tanh, gelu]\nDense.activation := $act", "act.rw")
    assert repr(rules) == "<RuleSet act.rw: 1 statement(s), params act>"
    result = rules.apply(model)
    assert repr(result.report) == "<RewriteReport clone: 1 statement(s), 1 match(es), 1 field change(s); validation PASSED>"
    assert repr(result) == f"<RewriteResult model='tiny' (Sequential) {result.report!r}>"
    assert repr(rewrite.plan(model, rules)) == "<RewriteReport plan: 1 statement(s), 1 match(es), 1 field change(s); dry run>"
    pretty = []

    class Printer:
        def text(self, s):
            pretty.append(s)

    result.report._repr_pretty_(Printer(), False)
    assert pretty == [result.report.render()]
