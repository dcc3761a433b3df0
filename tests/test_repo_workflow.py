"""Rule files as code: the schema, the pre-commit hook, lint findings."""

from __future__ import annotations

import json
from pathlib import Path

import rewrite
from rewrite.lang import ast
from rewrite.lang.schema import SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parent.parent


def test_ast_schema_is_current():
    assert SCHEMA_FILE.read_text() == schema_text(), "grammar/ast.schema.json is stale: run `python -m rewrite.lang.schema`"


def test_schema_describes_a_parsed_file():
    schema = json.loads(SCHEMA_FILE.read_text())
    parsed = rewrite.parse("param a = relu\nrule r { Dense.activation := $a\n delete Dropout }\nwrap LSTM in Bidirectional\n")
    data = json.loads(parsed.model_dump_json())
    assert set(data) <= set(schema["properties"])
    kinds = {d["kind"] for d in data["body"]} | {s["kind"] for s in data["body"][0]["statements"]}
    assert kinds == {"rule", "wrap", "set_field", "delete"}
    assert {"Rule", "SetField", "Delete", "Insert", "Replace", "Wrap"} <= set(schema["$defs"])
    assert ast.RuleFile.model_validate(data) == parsed


def test_pre_commit_hook_is_declared():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: keras-rewrite-check" in text and "entry: keras-rewrite check" in text and r"files: \.rw$" in text


def test_unused_params_are_warnings(tmp_path):
    f = tmp_path / "p.rw"
    f.write_text("param act = gelu\nparam width = 3\nDense.activation := $act\n")
    found = rewrite.check(f)
    assert [(d.severity, d.code, d.line) for d in found] == [("warning", "unused-param", 2)]
