"""JSON Schemas of what keras-rewrite prints and returns, shipped beside the AST's.

- `report.schema.json`: a rewrite or plan report (`RewriteReport.to_json()`);
- `diagnostic.schema.json`: one finding about a rule file (`Diagnostic.to_dict()`);
- `cli-output.schema.json`: what any command prints with `--format json`, on
  success and on failure: `command`, `status`, `exit_code`, then the command's
  data (a report for plan, apply and demo), `error` and `diagnostics` on failure.

`python -m rewrite.cli.schemas` writes them; a test fails when one is stale and
validates real command output against them.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from rewrite.errors import Diagnostic
from rewrite.lang.resources import package_path
from rewrite.report.rewrite_report import RewriteReport

DRAFT = "https://json-schema.org/draft/2020-12/schema"
NAMES = ("report", "diagnostic", "cli-output")


def schema_path(name: str) -> Path:
    return package_path("rewrite.grammar", "grammar", f"{name}.schema.json")


def _report() -> dict[str, Any]:
    schema = RewriteReport.model_json_schema(mode="serialization")
    return {"$schema": DRAFT, "title": "keras-rewrite report", **schema}


def _diagnostic() -> dict[str, Any]:
    schema = TypeAdapter(Diagnostic).json_schema()
    return {"$schema": DRAFT, "title": "keras-rewrite diagnostic", **schema}


def _cli_output() -> dict[str, Any]:
    report = copy.deepcopy(RewriteReport.model_json_schema(mode="serialization"))
    defs = report.pop("$defs", {})
    fields = {"type": "object", "properties": report["properties"], "required": report.get("required", [])}
    defs["ReportFields"] = fields
    defs["Diagnostic"] = {k: v for k, v in _diagnostic().items() if k not in ("$schema", "title")}
    with_report = {"properties": {"command": {"enum": ["plan", "apply", "demo"]}, "status": {"enum": ["ok", "failed"]}}}
    return {
        "$schema": DRAFT,
        "title": "keras-rewrite command output (--format json)",
        "type": "object",
        "required": ["command", "status", "exit_code"],
        "properties": {
            "command": {"type": "string", "description": "the subcommand that ran"},
            "status": {
                "enum": ["ok", "failed", "error"],
                "description": "ok: done and every check passed; failed: it ran and a check or test failed; error: it could not run",
            },
            "exit_code": {
                "enum": [0, 1, 2, 3, 4],
                "description": "0 ok, 1 the rewrite or a rule test failed, 2 usage, 3 rule errors, 4 model not loaded",
            },
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
            "diagnostics": {"type": "array", "items": {"$ref": "#/$defs/Diagnostic"}},
        },
        "allOf": [
            {"if": with_report, "then": {"$ref": "#/$defs/ReportFields"}},
            {"if": {"properties": {"status": {"const": "error"}}}, "then": {"required": ["error", "diagnostics"]}},
        ],
        "$defs": defs,
    }


def schema_text(name: str) -> str:
    schema = {"report": _report, "diagnostic": _diagnostic, "cli-output": _cli_output}[name]()
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    for name in NAMES:
        target = schema_path(name)
        target.write_text(schema_text(name))
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
