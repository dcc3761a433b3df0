"""An outline laid out as aligned text for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rewrite.report.data import ReportData
from rewrite.report.outline import Outline, Table, outline


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells[1:]]
    return "\n".join(lines)


def outline_text(doc: Outline) -> str:
    """An outline as the terminal shows it."""
    out = [f"== {doc.title}"]
    if doc.params:
        out.append(f"params: {doc.params}")
    for section in doc.sections:
        out.append("")
        out.append(f"-- {section.heading}: {section.source}" if section.source else f"-- {section.heading}")
        for block in section.blocks:
            if isinstance(block, Table):
                out.append(_indent(table(block.headers, block.rows)))
            else:
                out.append(("     " if block.sub else "   ") + block.text)
    out += [f"note: {n}" for n in doc.notes]
    out += [f"warning: {w}" for w in doc.warnings]
    if doc.timing:
        out += ["", f"time: {doc.timing}"]
    if doc.verdict:
        out += ["", f"validation {doc.verdict}"]
    return "\n".join(out)


def render_report(report: ReportData, explain: bool = False) -> str:
    """The report as text tables. `explain` lists every near miss, not the first few."""
    return outline_text(outline(report, explain))


def _indent(text: str, by: str = "   ") -> str:
    return "\n".join(by + line for line in text.splitlines())
