"""The command line, in process: apply, plan, check, graph, demo; files whole or not at all."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from rewrite.cli.main import main
from rewrite.cli.options import parse_assignment


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "head.rw"
    path.write_text('param act = tanh in [tanh, gelu]\nrule head {\n  Dense[name ~ "fc?"].activation := $act\n  expect matches = 2\n}\n')
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_apply_writes_a_valid_model_and_leaves_the_input(saved, rules, tmp_path, capsys, keras):
    before = digest(saved)
    out = tmp_path / "out" / "new.keras"
    assert main(["apply", str(saved), str(rules), "-o", str(out), "--set", "act=gelu"]) == 0
    text = capsys.readouterr().out
    assert "fc1    activation  relu  gelu" in text and "validation PASSED" in text and f"wrote {out}" in text
    assert digest(saved) == before
    with warnings.catch_warnings(record=True) as caught:  # the input was compiled, never trained
        warnings.simplefilter("always")
        assert main(["plan", str(saved), str(rules)]) == 0
    assert not [w for w in caught if "Skipping variable loading for optimizer" in str(w.message)]
    new = keras.saving.load_model(out)
    assert new.get_layer("fc1").activation.__name__ == "gelu"
    old = keras.saving.load_model(saved)
    for a, b in zip(old.weights, new.weights):
        assert np.array_equal(a.numpy(), b.numpy())
    assert [p.name for p in out.parent.iterdir()] == ["new.keras"]


def test_apply_json_and_eval(saved, rules, tmp_path, capsys):
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.standard_normal((8, 32, 32, 3)).astype("float32"), y=np.arange(8) % 10)
    out = tmp_path / "new.keras"
    assert main(["apply", str(saved), str(rules), "-o", str(out), "--json", "--eval", str(data)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["params"] == {"act": "tanh"}
    assert report["statements"][0]["matches"] == ["fc1", "fc2"]
    assert set(report["evaluation"]["original"]) >= {"loss"}


def test_failed_validation_writes_nothing(saved, tmp_path, capsys):
    rules = tmp_path / "eq.rw"
    rules.write_text("rule r {\n Dense.activation := tanh\n expect outputs equal\n}\n")
    out = tmp_path / "new.keras"
    out.write_text("previous")
    assert main(["apply", str(saved), str(rules), "-o", str(out)]) == 2
    assert "exists; pass --force to replace it" in capsys.readouterr().err
    assert main(["apply", str(saved), str(rules), "-o", str(out), "--force"]) == 1
    assert "validation failed: expect outputs equal" in capsys.readouterr().err
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eq.rw", "model.keras", "new.keras"]


def test_apply_refuses_to_overwrite_input(saved, rules, capsys):
    assert main(["apply", str(saved), str(rules), "-o", str(saved)]) == 2
    assert "never overwrites its input" in capsys.readouterr().err


def test_module_callable_models_inplace_and_strict(rules, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent.parent))
    out = tmp_path / "inplace.keras"
    assert main(["apply", "tests.models_for_cli:small_cnn", str(rules), "-o", str(out), "--mode", "inplace", "--validate", "config"]) == 0
    assert "Rewrite (in-place mode)" in capsys.readouterr().out
    nothing = tmp_path / "none.rw"
    nothing.write_text("Conv3D.filters := 3\n")
    assert main(["apply", "tests.models_for_cli:small_cnn", str(nothing), "-o", str(out), "--strict", "--force"]) == 1
    assert "--strict" in capsys.readouterr().err
    assert main(["plan", "tests.models_for_cli:not_a_model", str(nothing)]) == 4
    assert main(["plan", "tests.models_for_cli:missing", str(nothing)]) == 4
    assert "not a callable" in capsys.readouterr().err
    assert main(["plan", "nope.keras", str(nothing)]) == 4
    assert "does not exist" in capsys.readouterr().err


def test_plan_shows_changes_and_near_misses(saved, rules, capsys):
    assert main(["plan", str(saved), str(rules)]) == 0
    text = capsys.readouterr().out
    assert "Plan (dry run)" in text and "fc1    activation  relu  tanh" in text
    assert "fc_out     class Dense ok, name is fc_out, wanted ~ \"fc?\"" in text


def test_rule_errors_exit_3_with_location_and_caret(saved, tmp_path, capsys):
    bad = tmp_path / "bad.rw"
    bad.write_text("Dense.activation := tanhh\n")
    assert main(["plan", str(saved), str(bad)]) == 3
    err = capsys.readouterr().err
    assert f"{bad}:1:21: error[bad-value]: `activation := 'tanhh'`: unknown activation" in err
    assert "\n    Dense.activation := tanhh\n                        ^\n" in err


def test_graph_formats(saved, capsys):
    assert main(["graph", str(saved)]) == 0
    assert "conv1" in capsys.readouterr().out
    assert main(["graph", str(saved), "--format", "dot"]) == 0
    assert capsys.readouterr().out.startswith('digraph "demo_cnn"')
    assert main(["graph", str(saved), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["nodes"]) == 10


def test_set_values_use_rule_literals():
    assert parse_assignment("act=gelu") == ("act", "gelu")
    assert parse_assignment("w = 64") == ("w", 64)
    assert parse_assignment("k=(3, 3)") == ("k", (3, 3))
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_assignment("act")


def test_demo_command_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rewrite", "demo", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "validation PASSED" in proc.stdout
    assert "reloaded it: outputs match the rewritten model (max diff 0)" in proc.stdout
    assert (tmp_path / "demo_rewritten.keras").exists()
    if os.environ["KERAS_BACKEND"] == "tensorflow":  # TensorFlow's start-up notices (from native code) are held back
        assert "absl::InitializeLog" not in proc.stderr and "oneDNN custom operations" not in proc.stderr, proc.stderr


def test_backend_start_up_notices_are_held_back_and_nothing_else(tmp_path):
    """A stand-in `keras` writes to file descriptor 2 while it is imported, as TensorFlow does."""
    fake = tmp_path / "keras"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. You may see ...\\n')\n"
        "os.write(2, b'a real problem while loading\\n')\n"
    )
    code = "from rewrite.cli.quiet import import_backend_quietly; import_backend_quietly(); import sys; print('after', file=sys.stderr)"
    for level, held in (("3", True), ("0", False)):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()]), "TF_CPP_MIN_LOG_LEVEL": level}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stderr.splitlines()
        if held:
            assert lines == ["a real problem while loading", "after"]
        else:
            assert len(lines) == 4 and "absl::InitializeLog" in lines[0] and lines[2:] == ["a real problem while loading", "after"]


def test_bad_structural_edit_writes_nothing(saved, tmp_path, capsys):
    rules = tmp_path / "bad.rw"
    rules.write_text("delete GlobalAveragePooling2D\n")
    out = tmp_path / "new.keras"
    before = digest(saved)
    assert main(["apply", str(saved), str(rules), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "cannot delete `gap` (GlobalAveragePooling2D)" in err and "(None, 16, 16, 16)" in err
    assert not out.exists() and digest(saved) == before


def test_provenance_is_saved_and_plain_load_still_works(saved, rules, tmp_path, capsys, keras):
    out = tmp_path / "prov.keras"
    assert main(["apply", str(saved), str(rules), "-o", str(out), "--set", "act=gelu", "--json"]) == 0
    capsys.readouterr()
    loaded = keras.models.load_model(out)  # a plain load ignores the record
    assert loaded.get_layer("fc1").activation.__name__ == "gelu"
    assert main(["show-provenance", str(out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "ok" and data["command"] == "show-provenance"
    assert data["rules"] == ["head"] and data["params"] == {"act": "gelu"}
    assert data["rule_files"][0]["file"].endswith("head.rw") and len(data["rule_files"][0]["sha256"]) == 64
    assert data["changed_layers"] == ["fc1", "fc2"]
    assert main(["show-provenance", str(out)]) == 0
    assert "rule files: head.rw" in capsys.readouterr().out
    assert main(["show-provenance", str(saved)]) == 4


def test_diff_text_markdown_json(saved, tmp_path, capsys, keras):
    rules = tmp_path / "d.rw"
    rules.write_text('Dense[name = "fc1"].units := 48 using weights=slice\nDense[name = "fc2"].activation := tanh\ndelete Dropout\n')
    out = tmp_path / "new.keras"
    assert main(["apply", str(saved), str(rules), "-o", str(out), "--json"]) == 0
    capsys.readouterr()
    assert main(["diff", str(saved), str(out)]) == 0
    text = capsys.readouterr().out
    old, new = keras.saving.load_model(saved), keras.saving.load_model(out)
    delta = new.count_params() - old.count_params()
    assert f"({delta:+,})" in text
    assert "fc1 (Dense) params +272" in text and "units: 32 -> 48" in text and "kernel [16, 32] -> [16, 48]" in text
    assert "fc2 (Dense)" in text and "activation: relu -> tanh" in text
    assert "removed:\n  drop (Dropout)" in text
    assert "new model made by keras-rewrite" in text
    assert main(["diff", str(saved), str(out), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("### Model diff") and r"| fc1 | Dense | units: 32 -\> 48" in md  # escaped as text: a name cannot inject markup
    assert main(["diff", str(saved), str(out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in data["removed"]] == ["drop"] and data["provenance_new"]["rules"] == []


def test_plan_explain_lists_every_near_miss(saved, tmp_path, capsys):
    rules = tmp_path / "e.rw"
    rules.write_text('Layer[name = "nothing"].trainable := false\nDense[name ~ "fc*", activation = tanh].activation := tanh\n')
    assert main(["plan", str(saved), str(rules)]) == 0
    short = capsys.readouterr().out
    assert "more near misses (--explain lists them all)" in short
    assert main(["plan", str(saved), str(rules), "--explain"]) == 0
    full = capsys.readouterr().out
    assert "more near misses" not in full
    assert "class Dense ok, name is fc_out, wanted = nothing" in full
    assert "fc1        class Dense ok, name ok, activation is relu, wanted = tanh" in full


def test_library_rules_by_name_on_the_command_line(saved, tmp_path, capsys):
    out = tmp_path / "nodrop.keras"
    assert main(["apply", str(saved), "keras-rewrite:std/dropout-off.rw", "-o", str(out)]) == 0
    assert "removed    drop" in capsys.readouterr().out
    assert main(["check", "keras-rewrite:std/fold-bn.rw"]) == 0


def test_apply_validates_on_the_probe_inputs_given(saved, rules, tmp_path, capsys, keras):
    import rewrite

    model = keras.saving.load_model(saved)
    shape = (2,) + tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(7).uniform(0, 1, shape).astype("float32")
    np.savez(tmp_path / "probe.npz", x=x)
    out = tmp_path / "new.keras"
    argv = ["apply", str(saved), str(rules), "-o", str(out), "--set", "act=gelu", "--json", "--probe", str(tmp_path / "probe.npz")]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    expected = rewrite.apply(model, rules, params={"act": "gelu"}, probe=x).report
    assert [d["max_abs"] for d in report["drift"]] == [d.max_abs for d in expected.drift]
    default = rewrite.apply(model, rules, params={"act": "gelu"}).report
    assert [d.max_abs for d in default.drift] != [d.max_abs for d in expected.drift]


def test_version_folders_and_standard_input(tmp_path, capsys, monkeypatch):
    import io

    import rewrite

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"keras-rewrite {rewrite.__version__}"
    (tmp_path / "a.rw").write_text("Dense.units := 3\n")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "b.rw").write_text("Desne.units := 3\n")
    (tmp_path / "deep" / "notes.txt").write_text("not a rule file\n")
    assert main(["check", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert f"{tmp_path / 'deep' / 'b.rw'}:1:1: error[unknown-class]: unknown layer class `Desne`" in out and "2 file(s) checked: 1 error(s)" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("Dense.activation = tanh\n"))
    assert main(["check", "-", "--format", "json"]) == 3
    report = json.loads(capsys.readouterr().out)
    (finding,) = report["diagnostics"]
    assert finding["file"] == "<stdin>" and finding["line"] == 1 and finding["code"] == "syntax"
    monkeypatch.setattr("sys.stdin", io.StringIO("Dense.activation := tanh\n"))
    assert main(["check", "-"]) == 0


def test_every_option_has_help():
    from rewrite.cli.main import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in subparsers.choices.items()
        for action in sub._actions
        if not action.help and not isinstance(action, argparse._HelpAction) and action.option_strings
    ]
    assert not missing, f"options without help: {missing}"



def test_a_failed_validation_prints_the_report_then_the_error(saved, tmp_path, capsys):
    rules = tmp_path / "equal.rw"
    rules.write_text('rule r {\n  Dense[name = "fc1"].activation := tanh\n  expect outputs equal\n}\n')
    out = tmp_path / "out.keras"
    assert main(["apply", str(saved), str(rules), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    failed_row = next(line for line in captured.out.splitlines() if line.strip().startswith("expect outputs equal (rule r)"))
    assert "failed" in failed_row and "first layer whose output moved: `fc1`" in failed_row
    assert "validation FAILED" in captured.out and "fc1    activation  relu  tanh" in captured.out
    assert captured.err.startswith("error: validation failed: expect outputs equal") and "Nothing was written" in captured.err
    assert not out.exists()
