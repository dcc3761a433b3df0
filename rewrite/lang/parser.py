"""Rule text -> AST: `parse(text, file)`, with limits on size and nesting."""

from __future__ import annotations

import functools
import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lark import __version__ as lark_version
from lark.exceptions import (
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from rewrite.errors import RuleSyntaxError
from rewrite.lang import ast
from rewrite.lang._lalr import Driver
from rewrite.lang.ast_builder import ToAst
from rewrite.lang.grammar import normalized, parser
from rewrite.lang.syntax_errors import context_lines, describe, label_for


@functools.lru_cache(maxsize=1)
def _driver() -> Driver | None:
    """The fast driver over the parser's tables (None: Lark's loop only, said once)."""
    driver = Driver.of(parser(), ToAst)
    if driver is None:
        warnings.warn(
            f"keras-rewrite's fast rule parser does not know this Lark ({lark_version}); rule files are parsed "
            "with Lark's own loop, with the same results, several times slower. Install a Lark of the range "
            "keras-rewrite names (pip install 'lark>=1.1,<2')",
            RuntimeWarning,
            stacklevel=4,
        )
    return driver


MAX_CHARS = 2_000_000


MAX_DEPTH = 100


def _too_deep(tree: Any) -> Any:
    """The first node nested deeper than MAX_DEPTH, found without recursion; or None."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        stack.extend((child, depth + 1) for child in getattr(node, "children", ()) if hasattr(child, "children"))
    return None


@contextmanager
def paused_collection() -> Iterator[None]:
    """Python's cyclic garbage collector off while rule text is parsed and checked.

    A parse makes hundreds of thousands of objects and keeps nearly all of them
    (the syntax tree), so every automatic collection on the way walks the whole
    growing tree again: about a third of the time of a 10,000-statement file.
    Reference counting still frees what dies; the collector runs as usual after.
    It is left as it was found (a caller that turned it off keeps it off).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse(text: str, file: str = "<string>", fast: bool = True) -> ast.RuleFile:
    """Parse rule text into its syntax tree (`rewrite.ast.RuleFile`), without checking it.

    `fast=False` uses Lark's own loop and parse tree only (the fast driver in
    rewrite._lalr builds the same AST in one pass; the tests compare the two).

    Raises:
        RuleSyntaxError: With file:line:col, the offending line and a caret.

    Examples:
        >>> rewrite.parse('Dense.activation := tanh').body[0].field
        'activation'
    """
    with paused_collection():
        return _parse(text, file, fast)


def _parse(text: str, file: str, fast: bool) -> ast.RuleFile:
    if len(text) > MAX_CHARS:
        raise RuleSyntaxError(
            f"rule text of {len(text):,} characters is over the limit of {MAX_CHARS:,}; split it into files joined with `use`",
            file, 1, 1, "", label="too long",
        )
    source = normalized(text)
    driver = _driver() if fast else None
    if driver is not None:
        # One pass over valid text; anything else is parsed again below, where Lark reports it.
        parsed = driver.run(source, ToAst(file, source), MAX_DEPTH)
        if isinstance(parsed, ast.RuleFile):
            return parsed
    try:
        tree = parser().parse(source)
    except UnexpectedInput as exc:
        labelled = label_for(exc, source, file)
        message = describe(exc, source)
        label = None
        if labelled:
            label, advice = labelled
            message = f"{label}: {advice} ({message})"
        line, column = max(exc.line, 1), max(exc.column, 1)
        if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
            lines = source.splitlines()
            line, column = len(lines), len(lines[-1]) + 1 if lines else 1
        raise RuleSyntaxError(message, file, line, column, context_lines(source.splitlines(), line, column), label) from None
    deep = _too_deep(tree)
    if deep is not None:
        line, column = getattr(deep.meta, "line", 1), getattr(deep.meta, "column", 1)
        raise RuleSyntaxError(
            f"nested more than {MAX_DEPTH} levels deep; write the expression more simply",
            file, line, column, context_lines(source.splitlines(), line, column), label="too deep",
        )
    try:
        return ToAst(file, source).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, RuleSyntaxError):
            raise exc.orig_exc from None
        raise
