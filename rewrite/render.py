"""Reports as text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rewrite.report import RewriteReport
from rewrite.values import show


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells[1:]]
    return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def render_report(report: RewriteReport, explain: bool = False) -> str:
    """The report as text tables. `explain` lists every near miss, not the first few."""
    limit = None if explain else 5
    out: list[str] = []
    title = {"clone": "Rewrite (clone mode)", "inplace": "Rewrite (in-place mode)", "plan": "Plan (dry run)"}[report.mode]
    out.append(f"== {title}")
    if report.params:
        out.append("params: " + ", ".join(f"{k}={show(v)}" for k, v in report.params.items()))
    for s in report.statements:
        rule = f" [rule {s.rule}]" if s.rule else ""
        out.append("")
        out.append(f"-- {s.file}:{s.line}{rule}: {s.source}")
        changed = len({c.layer for c in s.changes} | {c.layer for c in s.structure})
        out.append(f"   matched {len(s.matches)} layer(s), changed {changed}")
        if s.changes:
            out.append(_indent(table(["layer", "field", "old", "new"], [(c.layer, c.field, show(c.old), show(c.new)) for c in s.changes])))
        if s.structure:
            rows = [(c.kind, c.layer, ", ".join(c.new) or "-", c.detail) for c in s.structure]
            out.append(_indent(table(["structure", "layer", "new layers", "detail"], rows)))
            for c in s.structure[:10]:
                if c.before:
                    out.append(f"     before: {c.before}")
                    out.append(f"     after:  {c.after}")
            if len(s.structure) > 10:
                out.append(f"     ... and {len(s.structure) - 10} more")
        if s.skips:
            out.append(_indent(table(["skipped", "why"], [(k.layer, k.reason) for k in s.skips])))
        if s.near_misses:
            shown = s.near_misses[:limit]
            out.append(_indent(table(["near miss", "why not"], [(n.layer, n.reason) for n in shown])))
            if len(shown) < len(s.near_misses):
                out.append(f"   ... and {len(s.near_misses) - len(shown)} more near misses (--explain lists them all)")
        for w in s.warnings:
            out.append(f"   warning: {w}")
    if report.mode != "plan":
        out.append("")
        weights = report.weights
        out.append(f"-- weights: {weights.copied} variables copied ({weights.copied_values:,} values)")
        if weights.actions:
            weight_rows = [(a.layer, a.weight, a.action, a.old_shape, a.new_shape) for a in weights.actions]
            out.append(_indent(table(["layer", "weight", "action", "old shape", "new shape"], weight_rows)))
    if report.validation:
        out.append("")
        out.append("-- validation")
        out.append(_indent(table(["check", "result", "detail"], [(c.name, c.status, c.detail) for c in report.validation])))
    if report.drift:
        out.append("")
        out.append("-- output drift (original vs rewritten, probe batch)")
        out.append(_indent(table(["output", "kind", "max abs", "max rel"], [(d.output, d.kind, _fmt(d.max_abs), _fmt(d.max_rel)) for d in report.drift])))
    if report.evaluation:
        out.append("")
        out.append("-- evaluation on user data")
        keys = sorted(set(report.evaluation.original) | set(report.evaluation.rewritten))
        out.append(_indent(table(["metric", "original", "rewritten"], [(k, _fmt(report.evaluation.original.get(k, float("nan"))), _fmt(report.evaluation.rewritten.get(k, float("nan")))) for k in keys])))
    for n in report.notes:
        out.append(f"note: {n}")
    for w in report.warnings:
        out.append(f"warning: {w}")
    if report.timings:
        out.append("")
        out.append("time: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in report.timings.items()))
    if report.validation:
        out.append("")
        out.append("validation PASSED" if report.passed else "validation FAILED")
    return "\n".join(out)


def _indent(text: str, by: str = "   ") -> str:
    return "\n".join(by + line for line in text.splitlines())
