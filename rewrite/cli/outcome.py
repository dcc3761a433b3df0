"""How a command ends: its exit code, and the JSON it prints (on success and on failure).

One table for every command, so a CI job can tell a failed rewrite from a typo in
its own command line, a broken rule file, or a model that is not there:

| code | meaning |
| ---: | --- |
| 0 | done; every check passed |
| 1 | the rewrite or a rule test failed: validation, a requirement (`--strict`, `expect`), a plan the model refuses |
| 2 | usage: an unknown option, a value an option cannot take, an output that must not be written |
| 3 | the rule files are wrong: syntax or check errors (found before any model is read) |
| 4 | a model could not be loaded |

Anything else that goes wrong is a bug of keras-rewrite: 1, with the message and a
hint to run again with --debug. Interrupted: 130 (Ctrl-C), 143 (SIGTERM).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from rewrite.errors import (
    Diagnostic,
    MatchError,
    ModelLoadError,
    OutputError,
    PictureError,
    PlanError,
    RewriteError,
    RuleCheckError,
    RuleSyntaxError,
    UsageError,
    ValidationFailure,
    root_cause,
)

OK, FAILED, USAGE, RULES, MODEL = 0, 1, 2, 3, 4

Status = Literal["ok", "failed", "error"]


def exit_code(exc: BaseException) -> int:
    """The exit code for an error that ended a command (see the table above)."""
    if isinstance(exc, (UsageError, OutputError, PictureError)):
        return USAGE
    if isinstance(exc, (RuleSyntaxError, RuleCheckError)):
        return RULES
    if isinstance(exc, ModelLoadError):
        return MODEL
    return FAILED


def diagnostics_of(exc: BaseException) -> list[Diagnostic]:
    """The findings an error carries, each with its place (empty for errors about no place)."""
    if isinstance(exc, RuleSyntaxError):
        return [exc.diagnostic]
    if isinstance(exc, (RuleCheckError, MatchError)):
        return list(exc.diagnostics)
    if isinstance(exc, PlanError) and exc.diagnostic is not None:
        return [exc.diagnostic]
    return []


def document(command: str, status: Status, code: int, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `--format json` prints: the command, its status and exit code, then its data."""
    return {"command": command, "status": status, "exit_code": code, **(payload or {})}


def error_document(command: str, exc: BaseException, code: int) -> dict[str, Any]:
    """The JSON for a command that ended with an error: what failed, and where."""
    report = getattr(exc, "report", None) if isinstance(exc, ValidationFailure) else None
    payload: dict[str, Any] = report.to_dict() if report is not None else {}
    payload["error"] = {
        "type": type(exc).__name__,
        "message": str(exc) if isinstance(exc, (RewriteError, ValueError)) else root_cause(exc),
    }
    payload["diagnostics"] = [d.to_dict() for d in diagnostics_of(exc)]
    return document(command, "failed" if code == FAILED and report is not None else "error", code, payload)


def print_document(command: str, status: Status, code: int, payload: dict[str, Any] | None = None) -> int:
    """Print the command's JSON document on stdout; its exit code back."""
    print(json.dumps(document(command, status, code, payload), indent=2, default=str))
    return code
