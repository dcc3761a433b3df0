"""The rule grammar (grammar/rules.lark, package data) and the Lark parser built from it."""

from __future__ import annotations

import functools

from lark import Lark

from rewrite.lang.resources import package_path

GRAMMAR_FILE = "rules.lark"


def grammar_text() -> str:
    """The grammar, read from the installed package data or from the source checkout."""
    return package_path("rewrite.grammar", "grammar", GRAMMAR_FILE).read_text("utf-8")


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def normalized(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
