"""What scripts, CI and IDEs rely on: one exit-code table, JSON on every command
(on failure too) that its schema describes, one diagnostic format, paths as given."""

from __future__ import annotations

import json
import shutil
import subprocess

import jsonschema
import numpy as np
import pytest

from rewrite.cli.main import main
from rewrite.cli.schemas import NAMES, schema_path, schema_text


@pytest.fixture(scope="module")
def cli_schema():
    return json.loads(schema_path("cli-output").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_shipped_schemas_are_current(name):
    assert schema_path(name).read_text() == schema_text(name), f"{name}.schema.json is stale: run `python -m rewrite.cli.schemas`"


@pytest.fixture
def files(saved, tmp_path):
    (tmp_path / "ok.rw").write_text('Dense[name ~ "fc?"].activation := tanh\n')
    (tmp_path / "p.rw").write_text("param act = tanh in [tanh, gelu]\nDense[name = \"fc1\"].activation := $act\n")
    (tmp_path / "bad.rw").write_text("Dense.activation := tanhh\n")
    (tmp_path / "none.rw").write_text("Conv3D.filters := 3\n")
    (tmp_path / "eq.rw").write_text("rule r {\n Dense.activation := tanh\n expect outputs equal\n}\n")
    (tmp_path / "taken.keras").write_bytes(b"previous")
    np.savez(tmp_path / "probe.npz", x=np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32"))
    return tmp_path


# (argv with {d} for the folder and {m} for the model, exit code, status)
CASES = [
    ("check {d}/ok.rw", 0, "ok"),
    ("check {d}/bad.rw", 3, "failed"),
    ("plan {m} {d}/ok.rw", 0, "ok"),
    ("plan {m} {d}/none.rw --strict", 1, "failed"),
    ("plan {m} {d}/bad.rw", 3, "error"),
    ("plan {d}/missing.keras {d}/ok.rw", 4, "error"),
    ("plan {m} {d}/p.rw --set x=3", 2, "error"),
    ("plan {m} {d}/p.rw --set act=swish", 2, "error"),
    ("plan {m} {d}/p.rw --set act", 2, "error"),
    ("plan {m} {d}/ok.rw --picture {d}/x.jpg", 2, "error"),
    ("plan {m} {d}/ok.rw --bogus", 2, "error"),
    ("apply {m} {d}/ok.rw -o {d}/out.keras --probe {d}/probe.npz", 0, "ok"),
    ("apply {m} {d}/eq.rw -o {d}/out2.keras", 1, "failed"),
    ("apply {m} {d}/ok.rw -o {d}/taken.keras", 2, "error"),
    ("apply {m} {d}/ok.rw -o {d}/o.keras --probe {d}/missing.npz", 2, "error"),
    ("apply {m} {d}/ok.rw -o {d}/o.keras --mode sideways", 2, "error"),
    ("graph {m}", 0, "ok"),
    ("graph {d}/bad.rw", 4, "error"),
    ("diff {m} {m}", 0, "ok"),
    ("search {m} {d}/p.rw --grid -o {d}/variants", 0, "ok"),
    ("search {m} {d}/p.rw --sample 0 -o {d}/variants2", 2, "error"),
    ("search {m} {d}/p.rw --grid -o {d}/variants3 --jobs 0", 2, "error"),
    ("test {d}", 2, "error"),
    ("show-provenance {m}", 4, "error"),
    ("demo --out-dir {d}/demo", 0, "ok"),
]


@pytest.mark.parametrize(("argv", "code", "status"), CASES, ids=[c[0].split(" {")[0] + f" -> {c[1]}" for c in CASES])
def test_every_command_exits_by_the_table_and_prints_json_the_schema_describes(files, saved, capsys, cli_schema, argv, code, status):
    args = [a.format(d=files, m=saved) for a in argv.split()]
    assert main([*args, "--format", "json"]) == code
    out = capsys.readouterr()
    document = json.loads(out.out)
    jsonschema.validate(document, cli_schema)
    assert document["command"] == args[0] and document["exit_code"] == code and document["status"] == status
    if status == "error":
        assert document["error"]["message"] and out.err.strip()  # the person reading stderr is told too
    if args[0] in ("plan", "apply") and status != "error":
        assert isinstance(document["passed"], bool) and "statements" in document
    if argv.startswith("apply {m} {d}/eq.rw"):
        assert document["passed"] is False and not (files / "out2.keras").exists()
        assert any(c["status"] == "failed" for c in document["validation"])
    # --json is the same as --format json
    if code == 0 and args[0] != "search":
        again = ["--force"] if args[0] == "apply" else []
        assert main([*args, *again, "--json"]) == code
        assert json.loads(capsys.readouterr().out)["status"] == "ok"


def test_text_output_exits_by_the_same_table(files, saved, capsys):
    assert main(["plan", str(saved), str(files / "bad.rw")]) == 3
    assert main(["plan", str(saved), str(files / "p.rw"), "--set", "x=3"]) == 2
    err = capsys.readouterr().err
    assert "--set: unknown parameter `x` (declared: act)" in err
    assert main(["apply", str(saved), str(files / "ok.rw"), "-o", str(files / "o.keras"), "--validate", "sometimes"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: keras-rewrite apply") and "argument --validate: invalid choice: 'sometimes'" in err


def test_diagnostics_keep_paths_as_given_and_point_a_caret(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules" / "common").mkdir(parents=True)
    (tmp_path / "rules" / "common" / "base.rw").write_text("Dense.units := 0\n")
    (tmp_path / "rules" / "head.rw").write_text('use "common/base.rw"\n  Desne.units := 3\n')
    assert main(["check", "rules"]) == 3
    out = capsys.readouterr().out
    assert "rules/common/base.rw:1:16: error[bad-value]: `units := 0`" in out
    assert "rules/head.rw:2:3: error[unknown-class]: unknown layer class `Desne`; did you mean `Dense`?\n      Desne.units := 3\n      ^\n" in out
    assert str(tmp_path) not in out


def test_provenance_names_rule_files_relative_to_the_rule_root(saved, tmp_path, capsys):
    (tmp_path / "rules" / "common").mkdir(parents=True)
    (tmp_path / "rules" / "common" / "base.rw").write_text('Dense[name = "fc1"].trainable := false\n')
    (tmp_path / "rules" / "head.rw").write_text('use "common/base.rw"\nuse "keras-rewrite:std/dropout-off.rw"\n')
    out = tmp_path / "out.keras"
    assert main(["apply", str(saved), str(tmp_path / "rules" / "head.rw"), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["show-provenance", str(out), "--json"]) == 0
    text = capsys.readouterr().out
    names = [f["file"] for f in json.loads(text)["rule_files"]]
    assert names == ["common/base.rw", "keras-rewrite:std/dropout-off.rw", "head.rw"]
    assert str(tmp_path) not in text


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_every_command_and_parse(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("apply", "search", "show-provenance", "--validate"):
        assert word in script
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed here; the script was generated")
    check = [program, "-n"] if shell != "fish" else [program, "--no-execute"]
    result = subprocess.run([*check], input=script, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
