"""`RewriteReport`: the report data with its renderings (text tables, HTML, JSON)."""

from __future__ import annotations

from typing import Any

from rewrite.report.data import ReportData
from rewrite.report.html import report_html
from rewrite.report.text import render_report


class RewriteReport(ReportData):
    """What a rewrite (or a dry run) did, as frozen data: printable as tables, or JSON.

    Examples:
        >>> report = rewrite.apply(model, 'Dropout.rate := 0.1').report
        >>> report.passed, report.changes[0].old, report.changes[0].new
        (True, 0.2, 0.1)
        >>> sorted(report.to_dict())[:3]
        ['cost', 'drift', 'evaluation']
    """

    def render(self, explain: bool = False) -> str:
        """The report as text tables. `explain` lists every near miss, not the first few."""
        return render_report(self, explain=explain)

    def to_html(self, explain: bool = False) -> str:
        """The report as an HTML fragment: the same tables as `render()`, for notebooks."""
        return report_html(self, explain=explain)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        """One line: what ran and the verdict (`str()` and IPython show the tables)."""
        if self.mode == "plan":
            verdict = "dry run"
        elif not self.validation:
            verdict = "not validated"
        else:
            verdict = "validation PASSED" if self.passed else "validation FAILED"
        matched = sum(len(s.matches) for s in self.statements)
        return (
            f"<RewriteReport {self.mode}: {len(self.statements)} statement(s), {matched} match(es), "
            f"{len(self.changes)} field change(s); {verdict}>"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython at a terminal (and notebooks exported to text): the tables."""
        printer.text(repr(self) if cycle else self.render())
