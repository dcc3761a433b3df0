"""Rich HTML for Jupyter: reports, plans and graph views as tables.

The rows come from `rewrite.report.outline` (reports) and
`rewrite.graphview.view.graph_rows` (graphs), the same rows the terminal prints;
this module only lays them out. Every piece of user text (layer names, rule source,
values, reasons) goes through `html.escape`.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from rewrite.report.data import GraphRow
from rewrite.report.outline import Block, Line, Outline, Section, Table, outline

TAGS = {"passed", "failed", "skipped", "added", "removed", "replaced", "wrapped"}

STYLE = """
.rw-report, .rw-graph { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  font-size: 13px; line-height: 1.4; color: #1f2328; background: #ffffff; max-width: 1040px;
  padding: 6px 12px; border-radius: 6px; }
.rw-report section { border-top: 1px solid #eaeef2; margin-top: 8px; }
.rw-report h3, .rw-graph h3 { font-size: 15px; margin: 6px 0 4px; }
.rw-report h4 { font-size: 13px; margin: 14px 0 4px; font-weight: 600; }
.rw-report code, .rw-graph code { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 12px; background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
.rw-report table, .rw-graph table { border-collapse: collapse; margin: 4px 0 6px 12px; font-size: 13px; }
.rw-report th, .rw-graph th { text-align: left; font-weight: 600; background: #f6f8fa;
  border-bottom: 1px solid #d0d7de; padding: 3px 10px; }
.rw-report td, .rw-graph td { border-bottom: 1px solid #eaeef2; padding: 2px 10px;
  font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12px; vertical-align: top; }
.rw-report p { margin: 2px 0 2px 12px; }
.rw-report p.rw-sub { margin-left: 28px; color: #57606a; font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 12px; }
.rw-report .rw-muted, .rw-graph .rw-muted { color: #57606a; }
.rw-report ul { margin: 4px 0; padding-left: 22px; }
.rw-report .rw-warning, .rw-report li.rw-warning { color: #9a6700; }
.rw-tag { border-radius: 3px; padding: 0 5px; font-weight: 600; }
.rw-passed { background: #dafbe1; color: #116329; }
.rw-failed { background: #ffebe9; color: #a40e26; }
.rw-skipped { background: #eaeef2; color: #57606a; }
.rw-added { background: #dafbe1; color: #116329; }
.rw-removed { background: #ffebe9; color: #a40e26; }
.rw-replaced { background: #fff1e5; color: #953800; }
.rw-wrapped { background: #fbefff; color: #8250df; }
.rw-verdict { display: inline-block; margin-top: 8px; padding: 3px 10px; border-radius: 4px; font-weight: 700; }
.rw-scroll { max-height: 420px; overflow-y: auto; }
"""


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = []
        for i, cell in enumerate(row):
            text = escape(cell)
            if i == table.tag_column and cell in TAGS:
                text = f'<span class="rw-tag rw-{cell}">{text}</span>'
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _block_html(block: Block) -> str:
    if isinstance(block, Table):
        return _table_html(block)
    assert isinstance(block, Line)
    css = ' class="rw-sub"' if block.sub else ' class="rw-warning"' if block.warning else ""
    return f"<p{css}>{escape(block.text)}</p>"


def _section_html(section: Section) -> str:
    heading = escape(section.heading)
    if section.source:
        heading = f'<span class="rw-muted">{heading}</span> <code>{escape(section.source)}</code>'
    blocks = "".join(_block_html(b) for b in section.blocks)
    return f'<section class="rw-{section.kind}"><h4>{heading}</h4>{blocks}</section>'


def outline_html(doc: Outline) -> str:
    """An outline as an HTML fragment with its own small stylesheet."""
    parts = [f"<style>{STYLE}</style>", '<div class="rw-report">', f"<h3>{escape(doc.title)}</h3>"]
    if doc.params:
        parts.append(f'<p><span class="rw-muted">params:</span> <code>{escape(doc.params)}</code></p>')
    parts += [_section_html(s) for s in doc.sections]
    for label, items in (("note", doc.notes), ("warning", doc.warnings)):
        if items:
            css = ' class="rw-warning"' if label == "warning" else ""
            parts.append("<ul>" + "".join(f"<li{css}><b>{label}:</b> {escape(i)}</li>" for i in items) + "</ul>")
    if doc.timing:
        parts.append(f'<p class="rw-muted">time: {escape(doc.timing)}</p>')
    if doc.verdict:
        css = "rw-passed" if doc.verdict == "PASSED" else "rw-failed"
        parts.append(f'<div class="rw-verdict {css}">validation {doc.verdict}</div>')
    parts.append("</div>")
    return "\n".join(parts)


def report_html(report: Any, explain: bool = False) -> str:
    """A report (of a rewrite or a plan) as HTML: the terminal's tables, cell for cell."""
    return outline_html(outline(report, explain))


def graph_html(name: str, rows: Sequence[GraphRow], edges: int) -> str:
    """A graph of layer calls as HTML: one row per call, as `keras-rewrite graph` prints."""
    layers = len({r.path for r in rows})
    summary = f"{len(rows)} layer calls of {layers} layers, {edges} tensors"
    head = "".join(f"<th>{h}</th>" for h in ("#", "layer", "class", "output shape", "inputs"))
    body = "".join(
        f"<tr><td>{i}</td><td>{escape(r.path)}</td><td>{escape(r.cls)}</td>"
        f"<td>{escape(r.shapes)}</td><td>{escape(', '.join(r.inputs))}</td></tr>"
        for i, r in enumerate(rows)
    )
    return (
        f'<style>{STYLE}</style><div class="rw-graph"><h3>Graph <code>{escape(name)}</code></h3>'
        f'<p class="rw-muted">{escape(summary)}</p>'
        f'<div class="rw-scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></div>'
    )
