"""Rule files cannot run code or reach files they should not; unsafe models are refused."""

from __future__ import annotations

import pytest

import rewrite
from rewrite.errors import PlanError, RuleCheckError, RuleSyntaxError


@pytest.mark.parametrize(
    "text",
    [
        'insert os.system("touch pwned") after Dense',
        "Dense.units := __import__('os').system('touch pwned')",
        "Dense.units := eval(1)",
        "Dense[name ~ \"x\"].units := @__class__.__init__",
    ],
)
def test_code_never_parses(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((RuleSyntaxError, RuleCheckError)):
        rewrite.from_text(text)
    assert not (tmp_path / "pwned").exists()


def test_calls_resolve_only_layers_and_transforms(head_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("__import__", "__builtins__", "eval", "exec", "open", "getattr"):
        with pytest.raises(PlanError, match=f"`{name}` is neither a Keras layer class nor a registered transform"):
            rewrite.apply(head_model, f'insert {name}("touch pwned") after Dense[name = "fc1"]')
    assert not (tmp_path / "pwned").exists()


def test_strings_are_only_strings(head_model):
    import keras

    # PyTorch refuses a "." in a layer's name (its modules are addressed by dotted
    # paths), so there the format string reaches for an item instead.
    payload = "{0.__class__.__init__.__globals__}" if keras.backend.backend() != "torch" else "{0[__class__]}{__globals__}"
    text = f'Dense[name = "fc1"].name := "{payload}"'
    result = rewrite.apply(head_model, text, validate="none")
    assert result.model.get_layer(payload).name == payload
    with pytest.raises(RuleCheckError, match=r"parameter `\$__class__` is not declared"):
        rewrite.from_text("Dense.units := $__class__")


def test_use_reaches_only_rule_files_in_allowed_folders(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    (project / "a.rw").write_text('use "/etc/passwd"\n')
    with pytest.raises(RuleCheckError, match=r'`use "/etc/passwd"`: only rule files \(.rw\) can be used'):
        rewrite.load(project / "a.rw")
    (tmp_path / "outside.rw").write_text("Dense.activation := tanh\n")
    (project / "b.rw").write_text('use "../outside.rw"\n')
    with pytest.raises(RuleCheckError, match="points outside the allowed folders"):
        rewrite.load(project / "b.rw")
    (project / "sub").mkdir()
    (project / "sub" / "inner.rw").write_text("Dense.activation := gelu\n")
    (project / "c.rw").write_text('use "sub/inner.rw"\nuse "keras-rewrite:std/fold-bn.rw"\n')
    assert len(rewrite.load(project / "c.rw").statements) == 2


def test_lambda_models_are_refused_in_safe_mode_with_the_risk_named(keras, tmp_path, capsys):
    from rewrite.cli.main import main

    x = keras.Input((3,))
    m = keras.Model(x, keras.layers.Lambda(lambda t: t * 2, name="double")(keras.layers.Dense(3, name="d")(x)))
    path = tmp_path / "lam.keras"
    m.save(path)
    rules = tmp_path / "r.rw"
    rules.write_text("Dense.activation := tanh\n")
    assert main(["apply", str(path), str(rules), "-o", str(tmp_path / "out.keras")]) == 4
    err = capsys.readouterr().err
    assert "Lambda layer" in err and "--unsafe" in err and "trust" in err
    assert main(["apply", str(path), str(rules), "-o", str(tmp_path / "out.keras"), "--unsafe"]) == 0
