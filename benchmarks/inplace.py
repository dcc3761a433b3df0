"""In-place mode: the time of ``rewrite.apply(model, rule, mode="inplace")`` per changed layer.

The whole call is timed (parse, static check, graph view, plan, setting the fields,
dropping the traced functions, the report), with ``validate="none"``, and divided
by the number of layers it changed. Runs alternate the rule and its inverse, so
the model ends as it began and every run changes the same layers. The target
(<= 1 ms per changed layer) is judged where a rule changes at least
MIN_CHANGED layers; below that the fixed cost of a call (mostly the graph view)
is the whole story, and the table shows it as information.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.harness import log, table, timed

MIN_CHANGED = 20


def measure(model: Any, rule: str, undo: str, runs: int, label: str) -> dict[str, Any]:
    import rewrite

    log(f"[{label}] in place")
    times: list[float] = []
    stages: list[dict[str, float]] = []
    changed = 0
    for i in range(runs + 1):  # the first pair is a warm-up
        t, result = timed(lambda: rewrite.apply(model, rule, mode="inplace", validate="none"))
        changed = len(result.report.changes)
        if i:
            times.append(t)
            stages.append(dict(result.report.timings))
        del result
        back = rewrite.apply(model, undo, mode="inplace", validate="none")
        if len(back.report.changes) != changed:
            raise RuntimeError(f"{label}: the inverse rule changed {len(back.report.changes)} layers, the rule {changed}")
        del back
    median = statistics.median(times)
    return {
        "rule": rule,
        "changed_layers": changed,
        "runs_s": times,
        "median_s": median,
        "ms_per_changed_layer": 1000 * median / changed if changed else None,
        "stages_median_s": {k: statistics.median(s.get(k, 0.0) for s in stages) for k in sorted({k for s in stages for k in s})},
        "judged": changed >= MIN_CHANGED,
    }


def render(rows: list[tuple[str, dict[str, Any]]], limit_ms: float) -> str:
    def mark(r: dict[str, Any]) -> str:
        if not r["judged"]:
            return "(info)"
        return "met" if r["ms_per_changed_layer"] <= limit_ms else "NOT met"

    return "\n".join(
        [
            f"In place  rewrite.apply(mode='inplace', validate='none'), whole call / changed layers "
            f"(target: <= {limit_ms:g} ms where >= {MIN_CHANGED} layers change)",
            table(
                ["model", "changed", "call median", "ms per changed layer", "graph", "plan", "inplace", "target"],
                [
                    [
                        label,
                        str(r["changed_layers"]),
                        f"{r['median_s'] * 1000:.1f} ms",
                        f"{r['ms_per_changed_layer']:.3f}" if r["ms_per_changed_layer"] is not None else "-",
                        f"{r['stages_median_s'].get('graph', 0) * 1000:.1f} ms",
                        f"{r['stages_median_s'].get('plan', 0) * 1000:.1f} ms",
                        f"{r['stages_median_s'].get('inplace', 0) * 1000:.1f} ms",
                        mark(r),
                    ]
                    for label, r in rows
                ],
            ),
        ]
    )
