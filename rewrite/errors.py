"""Exceptions raised by keras-rewrite. Every message says what, where, and what to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


class RewriteError(Exception):
    """Base class of every error keras-rewrite raises on purpose."""


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a rule file: where it is, how bad, and what to do."""

    file: str
    line: int
    column: int
    message: str
    severity: Literal["error", "warning"] = "error"
    code: str = "check"
    source: str = ""
    """The text of the line it points at (shown with a caret under the column)."""

    def __str__(self) -> str:
        """`path:line:col: error[code]: message`, then the line and a caret under the column."""
        if self.line <= 0:  # about the file, or about values given to it (no place in the text)
            return f"{self.file}: {self.severity}[{self.code}]: {self.message}"
        head = f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"
        return f"{head}\n{caret(self.source, self.column)}" if self.source else head

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "source": self.source,
        }


def caret(text: str, column: int) -> str:
    """A source line, indented, with `^` under `column` (1-based; tabs count as one)."""
    text = text.expandtabs(1)
    return f"    {text}\n    {' ' * max(column - 1, 0)}^"


class RuleSyntaxError(RewriteError):
    """Rule text that does not parse. Carries file:line:col, the line, and a caret."""

    def __init__(self, message: str, file: str, line: int, column: int, context: str, label: str | None = None):
        self.file = file
        self.line = line
        self.column = column
        self.context = context
        self.label = label
        self.message = message
        super().__init__(f"{file}:{line}:{column}: error[syntax]: {message}\n{context}".rstrip("\n"))

    @property
    def diagnostic(self) -> Diagnostic:
        source = self.context.split("\n")[0][4:] if self.context else ""
        return Diagnostic(self.file, self.line, self.column, self.message, code="syntax", source=source)


class RuleCheckError(RewriteError):
    """Rule text that parses but cannot be right: unknown classes, fields, params..."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = [d for d in diagnostics if d.severity == "error"]
        self.warnings = [d for d in diagnostics if d.severity == "warning"]
        lines = "\n".join(str(d) for d in self.diagnostics)
        super().__init__(f"{len(self.diagnostics)} error(s) in the rules:\n{lines}")


class MatchError(RewriteError):
    """A statement matched too little or too much (under `--strict` or `expect matches`).

    `diagnostics` holds one Diagnostic per unmet requirement, with its place.
    """

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        self.diagnostics = list(diagnostics or [])
        super().__init__(message)


class WeightPolicyError(RewriteError):
    """A weight cannot be carried over under the statement's weight policy."""

    def __init__(self, message: str, layer: str = "", weight: str = "", old_shape: tuple = (), new_shape: tuple = ()):
        self.layer = layer
        self.weight = weight
        self.old_shape = old_shape
        self.new_shape = new_shape
        super().__init__(message)


class InplaceError(RewriteError):
    """A change that in-place mode refuses; the message points to clone mode."""


class PlanError(RewriteError):
    """A statement cannot be applied to a matched layer (bad value, unknown field...).

    `diagnostic` holds the statement's place and the message, where there is a statement.
    """

    def __init__(self, message: str, diagnostic: Diagnostic | None = None):
        self.diagnostic = diagnostic
        super().__init__(message)


@dataclass
class ValidationFailure(RewriteError):
    """Validation of the rewritten model failed; nothing was written.

    `report` holds the full report, including which check failed and why.
    """

    message: str
    report: Any = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.message


class UsageError(RewriteError, ValueError):
    """A command-line option or argument whose value cannot be used (`--jobs 0`, an
    unknown `--set` name, a data file that is not there). The CLI exits with 2."""


class ModelLoadError(RewriteError):
    """A MODEL argument could not be loaded (bad path, bad `module:callable`...)."""


class OutputError(RewriteError, ValueError):
    """An output that cannot or must not be written: an input, a folder, taken, unwritable.

    Also a ValueError, as the output checks were before it existed.
    """


class PictureError(RewriteError):
    """A picture of a rewrite cannot be drawn (format, missing program or package)."""


class UnsupportedModelError(RewriteError, TypeError):
    """A model of a kind this mode cannot rewrite (a subclassed model in clone mode...).

    Also a TypeError, so code that caught Keras's own error keeps working.
    """


def root_cause(exc: BaseException) -> str:
    """The innermost cause of an exception, as `Type: message` (its first line)."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
