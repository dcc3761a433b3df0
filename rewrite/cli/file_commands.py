"""Commands that read files only, never a model: `check` and `show-provenance`.

This module imports no Keras: `keras-rewrite check` runs in a CI job without a
backend, in a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rewrite.api import check
from rewrite.cli.outcome import OK, RULES, print_document
from rewrite.errors import Diagnostic, ModelLoadError, RuleCheckError, RuleSyntaxError, UsageError
from rewrite.io.provenance import read
from rewrite.lang.loader import CheckedRules, rules_from_text


def cmd_check(args: argparse.Namespace) -> int:
    files = _rule_files(args.files)
    diagnostics = [d for f in files for d in (_check_stdin() if f == "-" else check(f))]
    errors = [d for d in diagnostics if d.severity == "error"]
    code = RULES if errors else OK
    if args.format == "json":
        payload = {"files": len(files), "errors": len(errors), "warnings": len(diagnostics) - len(errors), "diagnostics": [d.to_dict() for d in diagnostics]}
        return print_document("check", "failed" if errors else "ok", code, payload)
    for d in diagnostics:
        print(d)
    print(f"{len(files)} file(s) checked: {len(errors)} error(s), {len(diagnostics) - len(errors)} warning(s)")
    return code


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
    if not Path(args.model).is_file():
        raise ModelLoadError(f"{args.model}: no such file")
    data = read(args.model)
    if data is None:
        raise ModelLoadError(f"{args.model}: no keras-rewrite provenance (not made by keras-rewrite, or not a .keras file)")
    if args.format == "json":
        return print_document("show-provenance", "ok", OK, data)
    files = ", ".join(f["file"] for f in data.get("rule_files", [])) or "(rule text)"
    params = ", ".join(f"{k}={v!r}" for k, v in sorted(data.get("params", {}).items())) or "none"
    print(f"{args.model}: made by keras-rewrite {data.get('version', '?')}")
    print(f"rule files: {files}")
    print(f"params: {params}")
    for statement in data.get("statements", []):
        print(f"  {statement}")
    print(f"changed layers: {', '.join(data.get('changed_layers', [])) or 'none'}")
    return OK


def cmd_completion(args: argparse.Namespace) -> int:
    """A completion script for the shell, generated from the argument parser (shtab)."""
    try:
        import shtab
    except ImportError:
        raise UsageError("shell completion needs the shtab package: pip install shtab") from None
    from rewrite.cli.main import build_parser  # main imports this module: a circle at import time

    print(shtab.complete(build_parser(), shell=args.shell))
    return OK
