"""Graphviz DOT, written one way for every picture and export: quoting, nodes, edges.

Every name that reaches DOT (layer paths, classes, labels, rule text) is quoted
here, so a quote, a backslash or a newline in a name cannot break the file.
"""

from __future__ import annotations

from collections.abc import Mapping


class HtmlLabel(str):
    """An HTML-like label (`<<B>name</B>>`), written as it is; its parts are escaped by the caller."""


def quote(text: object) -> str:
    """`text` as a DOT string: backslashes and quotes escaped, line breaks as `\\n`.

    Examples:
        >>> quote('a "b"')
        '"a \\\\"b\\\\""'
    """
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r\n", "\n").replace("\n", "\\n")
    return f'"{s}"'


def attributes(values: Mapping[str, object]) -> str:
    """`key=value, ...`: every value quoted, except HTML-like labels."""
    return ", ".join(f"{k}={v if isinstance(v, HtmlLabel) else quote(v)}" for k, v in values.items())


def node(node_id: str, values: Mapping[str, object], indent: str = "  ") -> str:
    return f"{indent}{quote(node_id)} [{attributes(values)}];"


def edge(source: str, target: str, values: Mapping[str, object] | None = None, indent: str = "  ") -> str:
    tail = f" [{attributes(values)}]" if values else ""
    return f"{indent}{quote(source)} -> {quote(target)}{tail};"
