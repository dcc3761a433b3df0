"""Static checks: no model, no Keras, every finding with file:line:col and advice."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import rewrite
from rewrite.errors import RuleCheckError


def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleCheckError) as info:
        rewrite.from_text(text, "c.rw")
    return [str(d) for d in info.value.diagnostics]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Desne.units := 3", "c.rw:1:1: error[unknown-class]: unknown layer class `Desne`; did you mean `Dense`?"),
        ("Dense.unit := 3", "`Dense` has no field `unit`; did you mean `units`?"),
        ("Dense.flavour := 3", "`Dense` has no field `flavour`; its fields: activation"),
        ('Dense.units := "abc"', "c.rw:1:16: error[bad-value]: `units := 'abc'`: expected a whole number greater than 0"),
        ("Dense.units := 0", "expected a whole number greater than 0"),
        ("Dense.activation := tanhh", "unknown activation `tanhh`; did you mean `tanh`?"),
        ("Dense.activation := 3", "expected an activation name"),
        ("Dropout.rate := 1.5", "expected a number from 0 up to (not including) 1"),
        ("Conv2D.padding := full", 'expected "valid", "same" or "causal"'),
        ("Conv2D.kernel_size := (3, 0)", "expected a positive whole number or a tuple"),
        ("Dense.use_bias := 1", "expected true or false"),
        ("Dense.units := $width", "parameter `$width` is not declared; declare it with `param width = VALUE`"),
        ("param width = 3\nDense.units := $widht", "parameter `$widht` is not declared; did you mean `$width`?"),
        ("Dense[units > $w].units := 3", "parameter `$w` is not declared"),
        ("ReLU.activation := tanh", "write `replace ReLU with Activation(tanh)` instead"),
        ("LeakyReLU.activation := tanh", "`LeakyReLU` is a nonlinearity of its own"),
        ("PReLU.activation := gelu", "write `replace PReLU with Activation(gelu)`"),
        ("Softmax.activation := gelu", "write `replace Softmax with Activation(gelu)`"),
        ("Dense[nam = 3].units := 2", "c.rw:1:7: error[unknown-field]: `Dense` has no field `nam`; did you mean `name`?"),
        ("Dense.path := x", "`path` is read-only"),
        ("*.colour := 3", "no Keras layer has a field `colour`"),
        ("param act = relu in [gelu, tanh]\nDense.activation := $act", "default 'relu' is not one of its choices"),
        ("param r = 0.9 in range(0.0, 0.5)\nDropout.rate := $r", "default 0.9 is outside range(0.0, 0.5)"),
        ("param a = tanhh in [tanhh, relu]\nDense.activation := $a", "unknown activation `tanhh`"),
        ("rule a { Dense.units := 3 }\nrule a { Dense.units := 4 }", "rule id `a` is used twice"),
        ("Dense.units := 3 using weights=widen\nDense.activation := relu using weights=widen", "`using weights=widen` grows `units` or `filters`, not `activation`"),
    ],
)
def test_static_errors(text, expected):
    found = errors_of(text)
    assert any(expected in f for f in found), found


def test_all_errors_at_once():
    found = errors_of("Desne.units := 3\nDense.units := 'x'\nReLU.activation := tanh\n")
    assert [f.split(":")[1] for f in found] == ["1", "2", "3"]


def test_alias_and_custom_classes_are_not_errors():
    rs = rewrite.from_text("(Conv2D | DepthwiseConv2D | Activation)[activation = swish].activation := gelu\nMyBlock.units := 3")
    assert [w.code for w in rs.warnings] == ["custom-class"]
    assert "checked when a model is given" in rs.warnings[0].message


def test_base_classes_select():
    rewrite.from_text("BaseConv.activation := gelu\nLayer.trainable := false")


def test_use_resolution_and_cycles(tmp_path):
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "head.rw").write_text("param act = gelu\nDense.activation := $act\n")
    (tmp_path / "main.rw").write_text('use "common/head.rw"\nDropout.rate := 0.0\n')
    rs = rewrite.load(tmp_path / "main.rw")
    assert [cs.statement.field for cs in rs.statements] == ["activation", "rate"]
    assert rs.defaults() == {"act": "gelu"}
    (tmp_path / "a.rw").write_text('use "b.rw"\n')
    (tmp_path / "b.rw").write_text('use "a.rw"\n')
    with pytest.raises(RuleCheckError, match=r"`use` cycle: .*a\.rw -> .*b\.rw -> .*a\.rw"):
        rewrite.load(tmp_path / "a.rw")
    (tmp_path / "c.rw").write_text('\n use "missing.rw"\n')
    with pytest.raises(RuleCheckError, match=r"c\.rw:2:2: error\[use-missing\]: `use \"missing.rw\"`: no such file"):
        rewrite.load(tmp_path / "c.rw")


def test_unknown_param_override_is_an_error():
    rs = rewrite.from_text("param act = relu\nDense.activation := $act")
    with pytest.raises(RuleCheckError) as err:
        rs.resolve_params({"ac": "gelu"})
    assert str(err.value.diagnostics[0]) == "parameter values: error[unknown-param]: unknown parameter `ac` (declared: act); only a declared `param` takes a value"


def test_param_values_given_must_lie_in_the_declared_space():
    rs = rewrite.from_text(
        "param act = relu in [relu, gelu]\nparam width = 32 in range(16, 64, step=16)\nparam k = (1, 1) in [(1, 1), (3, 3)]\n"
        "param free = 3\nDense.activation := $act\nDense.units := $width\nConv2D.kernel_size := $k\nDense.units := $free\n",
        "space.rw",
    )
    assert rs.resolve_params({"act": "gelu", "width": 64, "k": [3, 3], "free": 1000})["k"] == [3, 3]  # a list is the tuple choice
    for given, where, why in [
        ({"act": "swish"}, "space.rw:1:1", "is not one of its choices ['relu', 'gelu']"),
        ({"width": 80}, "space.rw:2:1", "is outside range(16, 64)"),
        ({"width": "wide"}, "space.rw:2:1", "is not a number"),
        ({"k": (5, 5)}, "space.rw:3:1", "is not one of its choices [(1, 1), (3, 3)]"),
    ]:
        with pytest.raises(RuleCheckError) as err:
            rs.resolve_params(given)
        text = str(err.value.diagnostics[0])
        assert text.startswith(f"{where}: error[param-outside-space]: param `{next(iter(given))}`: the value given") and why in text, text
        assert "widen the space where the param is declared" in text


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rewrite", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_check_command_reports_everything_and_fails(tmp_path):
    good = tmp_path / "good.rw"
    good.write_text("Dense.activation := gelu\n")
    bad = tmp_path / "bad.rw"
    bad.write_text("Desne.units := 3\nDense.units := 'x'\n")
    broken = tmp_path / "broken.rw"
    broken.write_text("Dense.activation = tanh\n")
    out = _run("check", str(good), str(bad), str(broken))
    assert out.returncode == 3
    assert f"{bad}:1:1: error[unknown-class]: unknown layer class `Desne`; did you mean `Dense`?\n    Desne.units := 3\n    ^\n" in out.stdout
    assert f"{bad}:2:16: error[bad-value]:" in out.stdout
    assert f"{broken}:1:18: error[syntax]: `=` instead of `:=`" in out.stdout
    assert "3 file(s) checked: 3 error(s)" in out.stdout
    ok = _run("check", str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    as_json = json.loads(_run("check", "--format", "json", str(bad)).stdout)
    assert as_json["errors"] == 2 and as_json["diagnostics"][0]["line"] == 1


def test_parsing_and_checking_never_import_tensorflow(tmp_path):
    (tmp_path / "r.rw").write_text("param act = gelu in [gelu, tanh]\nDense[name ~ 'fc*'].activation := $act\n")
    code = textwrap.dedent(
        f"""
        import sys, rewrite
        rs = rewrite.load({str(tmp_path / 'r.rw')!r})
        rewrite.check({str(tmp_path / 'r.rw')!r})
        from rewrite.cli import main
        assert main(["check", {str(tmp_path / 'r.rw')!r}]) == 0
        heavy = [m for m in ("tensorflow", "keras", "jax", "torch", "matplotlib") if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_registered_activation_functions_are_named_by_their_own_name():
    from rewrite.lang.catalog import canonical_activation
    from rewrite.lang.expressions import show

    serialized = {"module": "builtins", "class_name": "function", "config": "keras_hub>gelu_approximate", "registered_name": "function"}
    assert canonical_activation(serialized) == "gelu_approximate"
    assert show(serialized) == "gelu_approximate"
    assert canonical_activation({"class_name": "function", "config": "relu"}) == "relu"
