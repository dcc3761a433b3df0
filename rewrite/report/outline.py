"""What a report shows: one outline of sections and tables, every cell a string."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rewrite.lang.expressions import show
from rewrite.report.data import PrunedGroup, ReportData, StatementReport, StructureChange


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    tag_column: int | None = None
    """A column whose values name a state (`passed`, `added`, ...) that HTML colours."""


@dataclass(frozen=True)
class Line:
    text: str
    sub: bool = False
    """A detail of the line or table above it (indented further in text)."""
    warning: bool = False


Block = Table | Line


@dataclass(frozen=True)
class Section:
    heading: str
    blocks: tuple[Block, ...] = ()
    source: str = ""
    """For a statement: its rule text, shown after the heading."""
    kind: Literal["statement", "weights", "validation", "drift", "evaluation", "cost"] = "statement"


@dataclass(frozen=True)
class Outline:
    title: str
    params: str
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    timing: str = ""
    verdict: Literal["PASSED", "FAILED"] | None = None


TITLES = {"clone": "Rewrite (clone mode)", "inplace": "Rewrite (in-place mode)", "plan": "Plan (dry run)"}


NEAR_MISS_LIMIT = 5


STRUCTURE_LINES_LIMIT = 10


def fmt(x: float) -> str:
    return f"{x:.3g}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], tag_column: int | None = None) -> Table:
    return Table(tuple(headers), tuple(tuple(str(c) for c in r) for r in rows), tag_column)


def _new_layers(c: StructureChange) -> str:
    """The layers a change brings in; an insertion's with their class (its detail says where, not what)."""
    if c.kind == "added" and len(c.classes) == len(c.new):
        return ", ".join(f"{n} ({k})" for n, k in zip(c.new, c.classes)) or "-"
    return ", ".join(c.new) or "-"


KEPT_SHOWN = 8
"""Channel indices a text report lists per pruned group (the JSON has them all)."""


def _kept(g: PrunedGroup) -> str:
    shown = ", ".join(str(i) for i in g.kept[:KEPT_SHOWN])
    return shown + (f", ... ({len(g.kept)})" if len(g.kept) > KEPT_SHOWN else "")


def _pruned_rows(groups: Sequence[PrunedGroup], explain: bool) -> list[tuple[str, ...]]:
    return [
        (
            " + ".join(g.producers),
            f"{g.channels_before} -> {g.channels_after}",
            _kept(g),
            f"{g.params_removed:,}",
            ", ".join(g.members) if explain or len(g.members) <= 4 else f"{', '.join(g.members[:4])}, ... ({len(g.members)})",
        )
        for g in groups
    ]


def _statement(s: StatementReport, explain: bool) -> Section:
    blocks: list[Block] = []
    changed = len(s.changed_layers)
    blocks.append(Line(f"matched {len(s.matches)} layer(s), changed {changed}"))
    if s.pruned:
        headers = ["channel group (producers)", "channels", "kept", "params removed", "members"]
        blocks.append(_table(headers, _pruned_rows(s.pruned, explain)))
    elif s.changes:
        blocks.append(_table(["layer", "field", "old", "new"], [(c.layer, c.field, show(c.old), show(c.new)) for c in s.changes]))
    if s.structure:
        rows = [(c.kind, c.layer, _new_layers(c), c.detail) for c in s.structure]
        blocks.append(_table(["structure", "layer", "new layers", "detail"], rows, tag_column=0))
        for c in s.structure[:STRUCTURE_LINES_LIMIT]:
            if c.before:
                blocks.append(Line(f"before: {c.before}", sub=True))
                blocks.append(Line(f"after:  {c.after}", sub=True))
        if len(s.structure) > STRUCTURE_LINES_LIMIT:
            blocks.append(Line(f"... and {len(s.structure) - STRUCTURE_LINES_LIMIT} more", sub=True))
    if s.skips:
        blocks.append(_table(["skipped", "why"], [(k.layer, k.reason) for k in s.skips]))
    if s.near_misses:
        shown = s.near_misses if explain else s.near_misses[:NEAR_MISS_LIMIT]
        blocks.append(_table(["near miss", "why not"], [(n.layer, n.reason) for n in shown]))
        if len(shown) < len(s.near_misses):
            blocks.append(Line(f"... and {len(s.near_misses) - len(shown)} more near misses (--explain lists them all)"))
    blocks += [Line(f"warning: {w}", warning=True) for w in s.warnings]
    rule = f" [rule {s.rule}]" if s.rule else ""
    return Section(f"{s.file}:{s.line}{rule}", tuple(blocks), source=s.source)


def _ratio(after: int, before: int) -> str:
    return f"{after / before:.2f}" if before else "-"


def outline(report: ReportData, explain: bool = False) -> Outline:
    """What a report shows, every cell already a string. `explain` keeps every near miss."""
    sections = [_statement(s, explain) for s in report.statements]
    if report.mode != "plan":
        w = report.weights
        weight_blocks: tuple[Block, ...] = ()
        if w.actions:
            weight_rows = [(a.layer, a.weight, a.action, a.old_shape, a.new_shape) for a in w.actions]
            weight_blocks = (_table(["layer", "weight", "action", "old shape", "new shape"], weight_rows),)
        sections.append(Section(f"weights: {w.copied} variables copied ({w.copied_values:,} values)", weight_blocks, kind="weights"))
    if report.cost is not None:
        c = report.cost
        rows = [
            ("parameters", f"{c.params_before:,}", f"{c.params_after:,}", _ratio(c.params_after, c.params_before)),
            ("MACs (conv and Dense, per sample)", f"{c.macs_before:,}", f"{c.macs_after:,}", _ratio(c.macs_after, c.macs_before)),
        ]
        sections.append(Section("cost", (_table(["", "before", "after", "after/before"], rows),), kind="cost"))
    if report.validation:
        checks = [(c.name, c.status, c.detail) for c in report.validation]
        sections.append(Section("validation", (_table(["check", "result", "detail"], checks, tag_column=1),), kind="validation"))
    if report.drift:
        drifts = [(d.output, d.kind, fmt(d.max_abs), fmt(d.max_rel)) for d in report.drift]
        drift_table = _table(["output", "kind", "max abs", "max rel"], drifts)
        sections.append(Section("output drift (original vs rewritten, probe batch)", (drift_table,), kind="drift"))
    if report.evaluation:
        ev = report.evaluation
        keys = sorted(set(ev.original) | set(ev.rewritten))
        scores = [(k, fmt(ev.original.get(k, float("nan"))), fmt(ev.rewritten.get(k, float("nan")))) for k in keys]
        sections.append(Section("evaluation on user data", (_table(["metric", "original", "rewritten"], scores),), kind="evaluation"))
    verdict: Literal["PASSED", "FAILED"] | None = None
    if report.validation:
        verdict = "PASSED" if report.passed else "FAILED"
    return Outline(
        title=TITLES[report.mode],
        params=", ".join(f"{k}={show(v)}" for k, v in report.params.items()),
        sections=tuple(sections),
        notes=tuple(report.notes),
        warnings=tuple(report.warnings),
        timing=", ".join(f"{k} {v * 1000:.0f} ms" for k, v in report.timings.items()),
        verdict=verdict,
    )
