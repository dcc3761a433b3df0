"""Whole models: rewrite speed, planning share and validation cost against doing it by hand.

Three measurements per model (built once and reused for every run):

1. speed: A = ``rewrite.apply(model, rule, validate="none")`` against B = the
   hand-written ``clone_model`` + ``set_weights`` loop (benchmarks.cases.baseline),
   alternately A B A B ... after one untimed warm-up of each, which also checks that
   A and B build the same model (configs and weights compared);
2. planning share: ``rewrite.plan(model, rule)`` (parse, static check, graph view,
   matching, planning; nothing built) over the median A time;
3. validation cost: ``validate="full"`` minus ``validate="none"`` time, against a
   bare ``model.save`` + ``keras.saving.load_model`` + one ``predict`` (the target's
   definition).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from typing import Any

from benchmarks import inplace
from benchmarks.harness import alternate, log, summary, table, timed

PROBE_BATCH = 4
STAGES = ["graph", "plan", "probe", "materialize", "weights", "inplace", "validate", "evaluate"]


def compare_models(a_model: Any, b_model: Any) -> list[str]:
    """Differences between the rewritten (A) and hand-written (B) models; [] when they agree."""
    import numpy as np

    problems: list[str] = []
    a_layers = {layer.name: layer for layer in a_model.layers if type(layer).__name__ != "InputLayer"}
    b_layers = {layer.name: layer for layer in b_model.layers if type(layer).__name__ != "InputLayer"}
    if set(a_layers) != set(b_layers):
        problems.append(f"layer names differ: {sorted(set(a_layers) ^ set(b_layers))[:5]}")
    for name in sorted(set(a_layers) & set(b_layers)):
        a, b = a_layers[name], b_layers[name]
        if a.get_config() != b.get_config():
            problems.append(f"config of `{name}` differs")
        aw, bw = a.get_weights(), b.get_weights()
        if len(aw) != len(bw) or not all(np.array_equal(x, y) for x, y in zip(aw, bw)):
            problems.append(f"weights of `{name}` differ")
    return problems


def stage_medians(totals: list[float], stages: list[dict[str, float]]) -> dict[str, float]:
    """Median seconds per stage of report.timings; `other` is the rest of the total."""
    names = sorted({name for s in stages for name in s})
    medians = {name: statistics.median(s.get(name, 0.0) for s in stages) for name in names}
    medians["other"] = statistics.median(t - sum(s.values()) for t, s in zip(totals, stages))
    return medians


def probe(model: Any) -> Any:
    import numpy as np

    rng = np.random.default_rng(0)
    shape = tuple(PROBE_BATCH if d is None else d for d in model.input.shape)
    return rng.standard_normal(shape).astype("float32")


def save_load_predict(model: Any, x: Any, directory: str) -> None:
    """The bare-hands validation: save, load, predict once."""
    import keras

    path = os.path.join(directory, "bench.keras")
    model.save(path)
    keras.saving.load_model(path).predict(x, verbose=0)


def run_case(key: str, quick: bool, pairs: int, validation_pairs: int) -> dict[str, Any]:
    import rewrite
    from benchmarks.cases import CASES, baseline, tiny_model, tiny_transformer

    case = CASES[key]
    label = f"tiny[{key}]" if quick else key
    build = (tiny_model if case.application else tiny_transformer) if quick else case.build
    log(f"[{label}] building the model")
    build_s, model = timed(build)
    out: dict[str, Any] = {
        "model": label,
        "key": key,
        "application": case.application,
        "keras_model": model.name,
        "layers": len(model.layers),
        "params": int(model.count_params()),
        "rule": case.rule,
        "build_s": build_s,
    }

    def run_a() -> Any:
        return rewrite.apply(model, case.rule, validate="none")

    def run_b() -> Any:
        return baseline(model, case)

    log(f"[{label}] warm-up and equivalence check")
    out["warmup_a_s"], result = timed(run_a)
    out["warmup_b_s"], (b_model, edited) = timed(run_b)
    out["changed_layers_a"] = len(result.report.changes)
    out["changed_layers_b"] = len(edited)
    out["equivalence_problems"] = compare_models(result.model, b_model)
    if out["changed_layers_a"] != out["changed_layers_b"]:
        out["equivalence_problems"].insert(0, f"A changed {out['changed_layers_a']} layers, B {out['changed_layers_b']}")
    del result, b_model

    stages: list[dict[str, float]] = []
    out["speed"] = alternate(run_a, run_b, pairs, label, on_a=lambda r: stages.append(dict(r.report.timings)))
    out["a_stages_median_s"] = stage_medians(out["speed"]["a_s"], stages)

    log(f"[{label}] plan")
    rewrite.plan(model, case.rule)  # warm-up
    plan_times = [timed(lambda: rewrite.plan(model, case.rule))[0] for _ in range(max(pairs, 3))]
    out["plan"] = {
        "plan_s": plan_times,
        "median_plan_s": statistics.median(plan_times),
        "share": statistics.median(plan_times) / out["speed"]["median_a_s"],
    }

    if validation_pairs:
        out["validation"] = _validation(model, case.rule, run_a, label, validation_pairs)
    # last: in place edits this model (and puts it back)
    out["inplace"] = inplace.measure(model, case.rule, case.undo, 3, label)
    return out


def _validation(model: Any, rule: str, run_a: Any, label: str, triples: int) -> dict[str, Any]:
    import keras

    import rewrite

    x = probe(model)
    keras.ops.convert_to_numpy(model(x, training=False))  # warm the kernels for both sides
    none_s: list[float] = []
    full_s: list[float] = []
    full_stages: list[dict[str, float]] = []
    bare_predict_s: list[float] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-bench-") as tmp:
        for i in range(triples):
            log(f"[{label}] validation {i + 1}/{triples}")
            none_s.append(timed(run_a)[0])
            t, result = timed(lambda: rewrite.apply(model, rule, validate="full"))
            full_s.append(t)
            full_stages.append(dict(result.report.timings))
            if not result.report.passed:
                failures.append(str(result.report.validation))
            del result
            bare_predict_s.append(timed(lambda: save_load_predict(model, x, tmp))[0])
    costs = [f - n for f, n in zip(full_s, none_s)]
    ratios = [c / b for c, b in zip(costs, bare_predict_s)]
    return {
        "none_s": none_s,
        "full_s": full_s,
        "cost_s": costs,
        "save_load_predict_s": bare_predict_s,
        "ratios": ratios,
        "median_cost_s": statistics.median(costs),
        "median_save_load_predict_s": statistics.median(bare_predict_s),
        "median_ratio": statistics.median(ratios),
        "ratio_range": summary(ratios),
        "full_stages_median_s": stage_medians(full_s, full_stages),
        "failures": failures,
        "probe_batch": PROBE_BATCH,
    }


# ------------------------------------------------------------------ report


def stage_table(rows: list[tuple[str, dict[str, float]]]) -> str:
    present = {name for _, stages in rows for name in stages if name != "other"}
    names = [n for n in STAGES if n in present] + sorted(present - set(STAGES)) + ["other"]
    return table(["model", *names], [[model, *(f"{stages.get(n, 0.0):.3f}" for n in names)] for model, stages in rows])


def render(cases: list[dict[str, Any]], speed_limit: float, plan_limit: float, validation_limit: float) -> str:
    def mark(case: dict[str, Any], ok: bool) -> str:
        return ("met" if ok else "NOT met") if case["application"] else "(info)"

    parts = [
        f"Speed  A = rewrite.apply(validate='none'), B = clone_model + set_weights by hand "
        f"(target on keras.applications models: median A/B <= {speed_limit})",
        table(
            ["model", "layers", "params", "changed", "A median", "B median", "A/B median", "min", "max", "CPU A/B", "target"],
            [
                [
                    c["model"],
                    str(c["layers"]),
                    f"{c['params'] / 1e6:.1f}M",
                    str(c["changed_layers_a"]),
                    f"{c['speed']['median_a_s']:.3f} s",
                    f"{c['speed']['median_b_s']:.3f} s",
                    f"{c['speed']['median_ratio']:.2f}",
                    f"{c['speed']['min_ratio']:.2f}",
                    f"{c['speed']['max_ratio']:.2f}",
                    f"{c['speed']['median_cpu_ratio']:.2f}" if c["speed"]["median_cpu_ratio"] else "-",
                    mark(c, c["speed"]["median_ratio"] <= speed_limit),
                ]
                for c in cases
            ],
        ),
        "",
        "  Where A's time goes (median seconds per stage of report.timings; 'other' = parse, report, the rest)",
        stage_table([(c["model"], c["a_stages_median_s"]) for c in cases]),
        "",
        f"Planning share  rewrite.plan (parse, check, graph view, match, plan) / median A (target: <= {plan_limit:.0%})",
        table(
            ["model", "plan median", "A median", "share", "target"],
            [
                [
                    c["model"],
                    f"{c['plan']['median_plan_s'] * 1000:.1f} ms",
                    f"{c['speed']['median_a_s']:.3f} s",
                    f"{c['plan']['share']:.1%}",
                    "met" if c["plan"]["share"] <= plan_limit else "NOT met",
                ]
                for c in cases
            ],
        ),
    ]
    validated = [c for c in cases if "validation" in c]
    if validated:
        parts += [
            "",
            f"Validation cost  (full - none) / (save + load_model + one predict, batch {PROBE_BATCH}) "
            f"(target on keras.applications models: <= {validation_limit}x)",
            table(
                ["model", "none", "full", "full - none", "save+load+predict", "ratio", "min", "max", "target"],
                [
                    [
                        c["model"],
                        f"{statistics.median(c['validation']['none_s']):.2f} s",
                        f"{statistics.median(c['validation']['full_s']):.2f} s",
                        f"{c['validation']['median_cost_s']:.2f} s",
                        f"{c['validation']['median_save_load_predict_s']:.2f} s",
                        f"{c['validation']['median_ratio']:.2f}x",
                        f"{c['validation']['ratio_range']['min']:.2f}x",
                        f"{c['validation']['ratio_range']['max']:.2f}x",
                        mark(c, c["validation"]["median_ratio"] <= validation_limit),
                    ]
                    for c in validated
                ],
            ),
            "",
            "  Where validate='full' spends its time (median seconds per stage of report.timings)",
            stage_table([(c["model"], c["validation"]["full_stages_median_s"]) for c in validated]),
        ]
    return "\n".join(parts)
