"""Rule files loaded: parsed, their `use` includes resolved, checked (no Keras here).

`CheckedRules` is everything a set of rule files says; `rewrite.RuleSet` adds
`apply` and `plan` on top of it. `load`, `collect` and `from_text` take the class
to build, so the public functions return a `RuleSet` without this module knowing it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rewrite.errors import Diagnostic, RuleCheckError, RuleSyntaxError
from rewrite.lang import ast
from rewrite.lang.checks import Checker, check_params, outside_space
from rewrite.lang.expressions import evaluate, param_refs
from rewrite.lang.params import grid, sample, space
from rewrite.lang.parser import parse, paused_collection
from rewrite.lang.resources import package_path


def statement_param_refs(stmt: ast.AnyStatement) -> list[ast.ParamRef]:
    """Every `$param` a statement reads (values, predicates, call arguments)."""
    exprs: list[ast.Expr] = []
    if isinstance(stmt, ast.SetField):
        exprs.append(stmt.value)
    if isinstance(stmt, (ast.Insert, ast.Replace, ast.Wrap)):
        exprs += [*stmt.call.args, *(v for _, v in stmt.call.kwargs)]
    if isinstance(stmt, ast.Prune):
        exprs += [e for e in (stmt.ratio, stmt.min) if e is not None]
    for sel in ast.selectors(stmt):
        for node in ast.selector_nodes(sel):
            for pred in node.predicates:
                if isinstance(pred, ast.Compare):
                    exprs.append(pred.value)
                elif isinstance(pred, ast.Member):
                    exprs.append(pred.values)
    return [r for e in exprs for r in param_refs(e)]


@dataclass(frozen=True)
class RuleStatement:
    """A statement with the rule it belongs to (None outside a rule block)."""

    statement: ast.AnyStatement
    rule: ast.Rule | None
    index: int


@dataclass
class CheckedRules:
    """Everything a set of rule files says, in file order, checked: statements with
    their rules, params, and the warnings (or, from `collect`, errors) found."""

    files: list[ast.RuleFile] = field(default_factory=list)
    params: dict[str, ast.Param] = field(default_factory=dict)
    statements: list[RuleStatement] = field(default_factory=list)
    rules: list[ast.Rule] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict, repr=False)
    """Each file's text, by the name its diagnostics use (as the user gave the path)."""
    locations: dict[str, Path] = field(default_factory=dict, repr=False)
    """Each rule file on disk, by that name."""

    def sourced(self, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        """`diagnostics`, each with the text of the line it points at (for the caret)."""
        out = []
        for d in diagnostics:
            lines = self.sources.get(d.file, "").splitlines()
            if not d.source and 1 <= d.line <= len(lines):
                d = dataclasses.replace(d, source=lines[d.line - 1])
            out.append(d)
        return out

    @property
    def warnings(self) -> list[Diagnostic]:
        """The diagnostics that are warnings (an unused param, for example)."""
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that are errors; empty unless made by `collect`."""
        return [d for d in self.diagnostics if d.severity == "error"]

    def defaults(self) -> dict[str, Any]:
        """Each parameter's default value."""
        return {name: evaluate(p.default) for name, p in self.params.items()}

    def resolve_params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overridden by `params`; unknown names are an error."""
        values = self.defaults()
        for name, value in (params or {}).items():
            if name not in self.params:
                known = ", ".join(sorted(self.params)) or "none are declared"
                raise RuleCheckError(
                    [Diagnostic("parameter values", 0, 0, f"unknown parameter `{name}` (declared: {known}); only a declared `param` takes a value", code="unknown-param")]
                )
            p = self.params[name]
            outside = outside_space(p, value)
            if outside:
                raise RuleCheckError(
                    self.sourced([
                        Diagnostic(
                            p.file, p.line, p.column,
                            f"param `{name}`: the value given, {value!r}, {outside}; give a value inside the space, "
                            "or widen the space where the param is declared",
                            code="param-outside-space",
                        )
                    ])
                )
            values[name] = value
        return values

    def space(self) -> dict[str, Any]:
        """Each parameter's search space, by name (see `rewrite.search`)."""
        return space(self)

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of parameter values."""
        return grid(self)

    def sample(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """`n` reproducible random parameter draws."""
        return sample(self, n, seed)


Rules = TypeVar("Rules", bound=CheckedRules)


class _Loader:
    def __init__(self, kind: type[CheckedRules]) -> None:
        self.ruleset = kind()
        self.loaded: set[Path] = set()
        self.rule_ids: set[str] = set()
        self.roots: list[Path] = [Path.cwd().resolve(), library_root().resolve()]

    def refusal(self, written: str, target: Path) -> str | None:
        """Why a `use` target is refused: only .rw files under the allowed folders."""
        if target.suffix != ".rw":
            return f'`use "{written}"`: only rule files (.rw) can be used'
        resolved = target.resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            return (
                f'`use "{written}"` points outside the allowed folders ({allowed}); '
                "use files of this project or the keras-rewrite library"
            )
        return None

    def load_file(self, path: Path, shown: str, chain: tuple[tuple[Path, str], ...] = ()) -> None:
        """Load `path`, named `shown` in messages (the path as written: relative stays relative)."""
        where = chain[-1][1] if chain else shown
        try:
            given, path = path, path.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise RuleCheckError([Diagnostic(where, 0, 0, f"cannot follow {shown}: {exc}", code="use-missing")]) from None
        if path.suffix != ".rw" and given.suffix == ".rw":
            # A `.rw` name that links elsewhere: the target is never parsed, so its text is never shown.
            raise RuleCheckError([Diagnostic(where, 0, 0, f"{shown} links to {path}, which is not a rule file (.rw); nothing of it was read", code="not-a-rule-file")])
        if len(chain) >= MAX_USE_DEPTH:
            raise RuleCheckError([Diagnostic(where, 0, 0, f"`use` goes more than {MAX_USE_DEPTH} files deep at {shown}; join the rule files into fewer", code="use-depth")])
        if path in (p for p, _ in chain):
            cycle = " -> ".join(n for _, n in (*chain, (path, shown)))
            raise RuleCheckError([Diagnostic(where, 0, 0, f"`use` cycle: {cycle}; remove one of these `use` lines", code="use-cycle")])
        if path in self.loaded:
            return
        try:
            text = path.read_bytes().decode("utf-8-sig")  # UTF-8, with or without a byte order mark
        except OSError as exc:
            raise RuleCheckError([Diagnostic(where, 0, 0, f"cannot read rule file {shown}: {exc.strerror}", code="use-missing")]) from None
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise RuleCheckError(
                [Diagnostic(shown, line, 1, f"not UTF-8 text (byte {exc.start}); rule files are UTF-8: save it as UTF-8", code="not-utf8")]
            ) from None
        self.ruleset.sources[shown] = text
        self.ruleset.locations[shown] = path
        parsed = parse(text, shown)
        if not chain:
            self.roots.append(path.parent)
        for use in parsed.uses:
            target = resolve_use(use.path, path.parent)
            problem = self.refusal(use.path, target)
            if problem:
                raise RuleCheckError(self.ruleset.sourced([Diagnostic(shown, use.line, use.column, problem, code="use-refused")]))
            if not target.exists():
                raise RuleCheckError(
                    self.ruleset.sourced(
                        [Diagnostic(shown, use.line, use.column, f'`use "{use.path}"`: no such file {target}; paths are relative to this file', code="use-missing")]
                    )
                )
            self.load_file(target, shown_use(use.path, shown), (*chain, (path, shown)))
        self.loaded.add(path)
        self.add(parsed)

    def add(self, parsed: ast.RuleFile) -> None:
        rs = self.ruleset
        rs.files.append(parsed)
        for p in parsed.params:
            if p.name in rs.params:
                first = rs.params[p.name]
                rs.diagnostics.append(Diagnostic(p.file, p.line, p.column, f"param `{p.name}` is declared twice (first at {first.file}:{first.line})", code="duplicate-param"))
                continue
            rs.params[p.name] = p
        for item in parsed.body:
            if isinstance(item, ast.Rule):
                if item.id in self.rule_ids:
                    rs.diagnostics.append(Diagnostic(item.file, item.line, item.column, f"rule id `{item.id}` is used twice; rule ids must be unique", code="duplicate-rule"))
                rs.rules.append(item)
                self.rule_ids.add(item.id)
                for stmt in item.statements:
                    rs.statements.append(RuleStatement(stmt, item, len(rs.statements)))
            else:
                rs.statements.append(RuleStatement(item, None, len(rs.statements)))

    def finish(self) -> Any:
        rs = self.ruleset
        rs.diagnostics.extend(check_params(list(rs.params.values())))
        checker = Checker(rs.params)
        for cs in rs.statements:
            checker.check_statement(cs.statement)
        rs.diagnostics.extend(checker.found)
        rs.diagnostics.extend(_unused_params(rs))
        rs.diagnostics = rs.sourced(rs.diagnostics)
        return rs


LIBRARY_PREFIX = "keras-rewrite:"
MAX_USE_DEPTH = 100
"""How deep `use` may nest (a chain, not a count of files)."""


def library_root() -> Path:
    """The ready-made rules shipped with keras-rewrite (package data, or the checkout's rules/)."""
    return package_path("rewrite.rules", "rules", "std").parent


def resolve_use(target: str, base: Path) -> Path:
    """`use "x.rw"` is relative to the including file; `use "keras-rewrite:std/x.rw"` is the library."""
    if target.startswith(LIBRARY_PREFIX):
        return library_root() / target[len(LIBRARY_PREFIX) :]
    return base / target


def shown_use(target: str, including: str) -> str:
    """How messages name the file a `use` line points at: the library's own name, or
    the path joined to the including file's as written (relative stays relative)."""
    if target.startswith(LIBRARY_PREFIX):
        return target
    if including.startswith(LIBRARY_PREFIX):
        return LIBRARY_PREFIX + os.path.normpath(os.path.join(os.path.dirname(including[len(LIBRARY_PREFIX) :]), target)).replace(os.sep, "/")
    return os.path.normpath(os.path.join(os.path.dirname(including), target))


def _unused_params(rs: CheckedRules) -> list[Diagnostic]:
    used = {ref.name for cs in rs.statements for ref in statement_param_refs(cs.statement)}
    return [
        Diagnostic(p.file, p.line, p.column, f"param `{name}` is declared but no statement uses `${name}`", "warning", "unused-param")
        for name, p in rs.params.items()
        if name not in used
    ]


def load_rules(kind: type[Rules], *paths: str | Path) -> Rules:
    """`collect`, raising the errors found (warnings stay in `diagnostics`)."""
    rs = collect_rules(kind, *paths)
    if rs.errors:
        raise RuleCheckError(rs.diagnostics)
    return rs


def collect_rules(kind: type[Rules], *paths: str | Path) -> Rules:
    """Rule files loaded into a `kind` (CheckedRules or a subclass), errors kept as diagnostics."""
    loader = _Loader(kind)
    with paused_collection():
        for p in paths:
            loader.load_file(resolve_use(str(p), Path.cwd()) if str(p).startswith(LIBRARY_PREFIX) else Path(p), str(p))
        rules: Rules = loader.finish()
        return rules


def rules_from_text(kind: type[Rules], text: str, file: str = "<string>") -> Rules:
    """Rule text (no `use` of files) loaded into a `kind`; raises on any error."""
    loader = _Loader(kind)
    with paused_collection():
        loader.ruleset.sources[file] = text
        parsed = parse(text, file)
        if parsed.uses:
            use = parsed.uses[0]
            raise RuleSyntaxError("`use` needs a rule file on disk; load it with rewrite.load(path)", file, use.line, use.column, "")
        loader.add(parsed)
        rs: Rules = loader.finish()
    if rs.errors:
        raise RuleCheckError(rs.diagnostics)
    return rs
