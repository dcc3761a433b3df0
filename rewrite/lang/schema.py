"""The JSON Schema of the AST, generated from the pydantic models.

`python -m rewrite.schema` rewrites grammar/ast.schema.json; a test fails when the
file is stale. Tools that read `RuleFile.model_dump_json()` can validate with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rewrite.lang import ast
from rewrite.lang.resources import package_path

SCHEMA_FILE = package_path("rewrite.grammar", "grammar", "ast.schema.json")


def schema_text() -> str:
    schema = ast.RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "keras-rewrite rule file (AST)"
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else SCHEMA_FILE
    target.write_text(schema_text())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
