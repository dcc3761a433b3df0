"""Very large graphs: rewrite time per layer from 1,000 to 5,000 layers.

Synthetic residual chains (benchmarks.cases.deep_graph: Dense + Add per block, a
skip around every block and a long skip every 10 blocks, 4 units wide) of each
size are rewritten with ``Dense[activation = relu].activation := gelu`` (half the
layers change). A = ``rewrite.apply(validate="none")``, B = the hand-written
clone_model + set_weights loop, alternately. The target: A's time per layer stays
flat, the largest per-layer time at most 1.5x the smallest across the sizes.

Python's default recursion limit (1,000) is too low for Keras to even build such
a model (its graph walk recurses once per layer), so this benchmark raises it, as
a user with such a model must; keras-rewrite raises it for its own passes.
"""

from __future__ import annotations

import statistics
import sys
from typing import Any

from benchmarks.harness import alternate, log, table, timed


def run(sizes: list[int], pairs: int, inplace_size: int | None = None) -> dict[str, Any]:
    """Each size in turn; with `inplace_size`, the in-place benchmark also runs on that graph."""
    import rewrite
    from benchmarks import inplace
    from benchmarks.cases import DEEP_CASE, baseline, deep_graph
    from benchmarks.speed import compare_models, stage_medians

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * max(sizes) + 1000))
    rows: list[dict[str, Any]] = []
    inplace_result = None
    for n, size in enumerate(sizes):
        label = f"deep{size}"
        log(f"[{label}] building the model")
        build_s, model = timed(lambda size=size: deep_graph(size))
        layers = len(model.layers)

        def run_a(model: Any = model) -> Any:
            return rewrite.apply(model, DEEP_CASE.rule, validate="none")

        def run_b(model: Any = model) -> Any:
            return baseline(model, DEEP_CASE)

        row: dict[str, Any] = {"size": size, "layers": layers, "params": int(model.count_params()), "build_s": build_s}
        if n == 0:
            log(f"[{label}] equivalence check")
            result, (b_model, edited) = run_a(), run_b()
            row["changed_layers"] = len(result.report.changes)
            row["equivalence_problems"] = compare_models(result.model, b_model)
            if len(edited) != row["changed_layers"]:
                row["equivalence_problems"].insert(0, f"A changed {row['changed_layers']} layers, B {len(edited)}")
            del result, b_model
        stages: list[dict[str, float]] = []
        row["speed"] = alternate(run_a, run_b, pairs, label, on_a=lambda r, stages=stages: stages.append(dict(r.report.timings)))
        row["a_stages_median_s"] = stage_medians(row["speed"]["a_s"], stages)
        row["a_ms_per_layer"] = 1000 * row["speed"]["median_a_s"] / layers
        row["b_ms_per_layer"] = 1000 * row["speed"]["median_b_s"] / layers
        log(f"[{label}] plan")
        plan_times = [timed(lambda model=model: rewrite.plan(model, DEEP_CASE.rule))[0] for _ in range(2)]
        row["plan_s"] = statistics.median(plan_times)
        row["plan_share"] = row["plan_s"] / row["speed"]["median_a_s"]
        rows.append(row)
        if size == inplace_size:
            inplace_result = inplace.measure(model, DEEP_CASE.rule, DEEP_CASE.undo, 3, label)
        del model
    per_layer = [r["a_ms_per_layer"] for r in rows]
    return {
        "rule": DEEP_CASE.rule,
        "rows": rows,
        "inplace": inplace_result,
        "inplace_model": f"deep{inplace_size}",
        "flatness": max(per_layer) / min(per_layer),
        "equivalence_problems": rows[0].get("equivalence_problems", []),
    }


def render(result: dict[str, Any], limit: float) -> str:
    rows = result["rows"]
    return "\n".join(
        [
            f"Scaling  synthetic residual chains, `{result['rule']}`; A = rewrite, B = by hand "
            f"(target: A's time per layer flat, max/min <= {limit})",
            table(
                ["layers", "A median", "B median", "A/B", "A ms/layer", "B ms/layer", "plan", "plan share"],
                [
                    [
                        str(r["layers"]),
                        f"{r['speed']['median_a_s']:.2f} s",
                        f"{r['speed']['median_b_s']:.2f} s",
                        f"{r['speed']['median_ratio']:.2f}",
                        f"{r['a_ms_per_layer']:.2f}",
                        f"{r['b_ms_per_layer']:.2f}",
                        f"{r['plan_s'] * 1000:.0f} ms",
                        f"{r['plan_share']:.1%}",
                    ]
                    for r in rows
                ],
            ),
            f"  A per layer, largest / smallest: {result['flatness']:.2f}",
        ]
    )


def plot(result: dict[str, Any], path: str) -> None:
    """Rewrite time against layer count, keras-rewrite and the hand-written way (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    layers = [r["layers"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, marker in (("a", "keras-rewrite (validate='none')", "o"), ("b", "by hand: clone_model + set_weights", "s")):
        medians = [r["speed"][f"median_{key}_s"] for r in rows]
        lows = [min(r["speed"][f"{key}_s"]) for r in rows]
        highs = [max(r["speed"][f"{key}_s"]) for r in rows]
        left.errorbar(
            layers,
            medians,
            yerr=[[m - lo for m, lo in zip(medians, lows)], [hi - m for m, hi in zip(medians, highs)]],
            marker=marker,
            capsize=3,
            label=label,
        )
        right.plot(layers, [r[f"{key}_ms_per_layer"] for r in rows], marker=marker, label=label)
    left.set_xlabel("layers")
    left.set_ylabel("seconds per rewrite (median, min-max)")
    left.set_title("Rewrite time")
    right.set_xlabel("layers")
    right.set_ylabel("milliseconds per layer")
    right.set_title("Time per layer")
    right.set_ylim(bottom=0)
    left.set_ylim(bottom=0)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Synthetic residual chains: {result['rule']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
