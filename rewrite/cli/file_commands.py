"""Commands that read files only, never a model: `check` and `show-provenance`.

This module imports no Keras: `keras-rewrite check` runs in a CI job without a
backend, in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rewrite.api import check
from rewrite.errors import Diagnostic, RuleCheckError, RuleSyntaxError
from rewrite.io.provenance import read
from rewrite.lang.loader import CheckedRules, rules_from_text


def cmd_check(args: argparse.Namespace) -> int:
    files = _rule_files(args.files)
    diagnostics = [d for f in files for d in (_check_stdin() if f == "-" else check(f))]
    errors = [d for d in diagnostics if d.severity == "error"]
    if args.format == "json":
        print(json.dumps({"files": len(files), "errors": len(errors), "diagnostics": [d.to_dict() for d in diagnostics]}, indent=2))
    else:
        for d in diagnostics:
            print(d)
        print(f"{len(files)} file(s) checked: {len(errors)} error(s), {len(diagnostics) - len(errors)} warning(s)")
    return 1 if errors else 0


def _rule_files(given: list[str]) -> list[str]:
    """The files to check: each given file, every `*.rw` below a given folder, `-` as it is."""
    files: list[str] = []
    for item in given:
        path = Path(item)
        files += [str(p) for p in sorted(path.rglob("*.rw"))] if item != "-" and path.is_dir() else [item]
    return files


def _check_stdin() -> list[Diagnostic]:
    """The findings in rule text read from standard input (named `<stdin>`; `use` needs files)."""
    try:
        return list(rules_from_text(CheckedRules, sys.stdin.read(), "<stdin>").diagnostics)
    except RuleSyntaxError as exc:
        return [exc.diagnostic]
    except RuleCheckError as exc:
        return [*exc.diagnostics, *exc.warnings]


def cmd_show_provenance(args: argparse.Namespace) -> int:
    data = read(args.model)
    if data is None:
        print(f"{args.model}: no keras-rewrite provenance (not made by keras-rewrite, or not a .keras file)")
        return 1
    print(json.dumps(data, indent=2, sort_keys=True))
    return 0
