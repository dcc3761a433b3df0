"""Timing harness: alternating runs, medians and ratios, a table and optional JSON.

Three measurements per model (built once and reused for every run):

1. speed: A = ``rewrite.apply(model, rule, validate="none")`` against B = the
   hand-written ``clone_model`` + ``set_weights`` loop (benchmarks.cases.baseline),
   run alternately A B A B ... after one untimed warm-up of each;
2. planning share: ``rewrite.plan(model, rule)`` time over the median A time;
3. validation cost: ``validate="full"`` minus ``validate="none"`` time, against a
   bare ``model.save`` + ``keras.saving.load_model`` + one ``predict`` (the target's
   definition), and also against save + load + one direct call (stricter: a direct
   call skips the tracing that ``predict`` pays for).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

# Design targets (docs/benchmarks.md).
TARGET_SPEED_RATIO = 0.6  # median A/B
TARGET_PLAN_SHARE = 0.05  # plan time / median A time
TARGET_VALIDATION_RATIO = 1.2  # (full - none) / (save + load + predict)
PROBE_BATCH = 4


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    from benchmarks.cases import CASES

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time keras-rewrite against a hand-written clone_model baseline.",
    )
    parser.add_argument(
        "--models",
        default=",".join(CASES),
        help=f"comma-separated, from: {', '.join(CASES)} (default: all)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="timed A/B pairs per model (default 5; 2 with --quick)",
    )
    parser.add_argument(
        "--validation-pairs",
        type=int,
        default=None,
        help="timed (none, full, save/load) triples per model (default 2; 1 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny functional model instead of keras.applications (a smoke test, seconds)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    keys = [k.strip().lower() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CASES]
    if unknown or not keys:
        parser.error(
            f"--models: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(CASES)}"
        )
    args.models = keys
    if args.pairs is None:
        args.pairs = 2 if args.quick else 5
    if args.validation_pairs is None:
        args.validation_pairs = 1 if args.quick else 2
    if args.pairs < 1 or args.validation_pairs < 0:
        parser.error("--pairs must be >= 1 and --validation-pairs >= 0")
    return args


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()  # outside the timed region: each run leaves a whole model behind
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ equivalence


def _compare(a_model: Any, b_model: Any) -> list[str]:
    """Differences between the rewritten (A) and hand-written (B) models; [] when they agree."""
    import numpy as np

    problems: list[str] = []
    a_layers = {
        layer.name: layer for layer in a_model.layers if type(layer).__name__ != "InputLayer"
    }
    b_layers = {
        layer.name: layer for layer in b_model.layers if type(layer).__name__ != "InputLayer"
    }
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


# ------------------------------------------------------------------ one model


def _stage_medians(totals: list[float], stages: list[dict[str, float]]) -> dict[str, float]:
    """Median seconds per stage of report.timings; `other` is the rest of the total."""
    names = sorted({name for s in stages for name in s})
    medians = {name: statistics.median(s.get(name, 0.0) for s in stages) for name in names}
    medians["other"] = statistics.median(t - sum(s.values()) for t, s in zip(totals, stages))
    return medians


def _probe(model: Any) -> Any:
    import numpy as np

    rng = np.random.default_rng(0)
    shape = tuple(PROBE_BATCH if d is None else d for d in model.input.shape)
    return rng.standard_normal(shape).astype("float32")


def _save_load_call(model: Any, x: Any, directory: str, predict: bool = False) -> None:
    """The bare-hands validation: save, load, run once (with predict, or a direct call)."""
    import keras

    path = os.path.join(directory, "bench.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    if predict:
        loaded.predict(x, verbose=0)
    else:
        keras.ops.convert_to_numpy(loaded(x, training=False))


def run_case(key: str, quick: bool, pairs: int, validation_pairs: int) -> dict[str, Any]:
    import keras

    import rewrite
    from benchmarks.cases import CASES, baseline, tiny_model

    case = CASES[key]
    label = f"tiny[{key}]" if quick else key
    build = tiny_model if quick else case.build
    _log(f"[{label}] building the model")
    build_s, model = _timed(build)
    out: dict[str, Any] = {
        "model": label,
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

    # warm-up, and a check that A and B build the same model
    _log(f"[{label}] warm-up and equivalence check")
    warm_a_s, result = _timed(run_a)
    warm_b_s, (b_model, edited) = _timed(run_b)
    out["warmup_a_s"], out["warmup_b_s"] = warm_a_s, warm_b_s
    out["changed_layers_a"] = len(result.report.changes)
    out["changed_layers_b"] = len(edited)
    out["equivalence_problems"] = _compare(result.model, b_model)
    if out["changed_layers_a"] != out["changed_layers_b"]:
        out["equivalence_problems"].insert(
            0, f"A changed {out['changed_layers_a']} layers, B {out['changed_layers_b']}"
        )
    del result, b_model

    # 1. speed: A B A B ...
    times_a: list[float] = []
    times_b: list[float] = []
    stages: list[dict[str, float]] = []
    for i in range(pairs):
        _log(f"[{label}] pair {i + 1}/{pairs}")
        t, result = _timed(run_a)
        times_a.append(t)
        stages.append(dict(result.report.timings))
        del result
        t, _ = _timed(run_b)
        times_b.append(t)
    ratios = [a / b for a, b in zip(times_a, times_b)]
    median_a = statistics.median(times_a)
    out["speed"] = {
        "a_s": times_a,
        "b_s": times_b,
        "ratios": ratios,
        "median_a_s": median_a,
        "median_b_s": statistics.median(times_b),
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
    }
    out["a_stages_median_s"] = _stage_medians(times_a, stages)

    # 2. matching and planning share
    _log(f"[{label}] plan")
    rewrite.plan(model, case.rule)  # warm-up
    plan_times = [_timed(lambda: rewrite.plan(model, case.rule))[0] for _ in range(pairs)]
    out["plan"] = {
        "plan_s": plan_times,
        "median_plan_s": statistics.median(plan_times),
        "share": statistics.median(plan_times) / median_a,
    }

    # 3. validation cost
    if validation_pairs:
        x = _probe(model)
        keras.ops.convert_to_numpy(model(x, training=False))  # warm the kernels for both sides
        none_s: list[float] = []
        full_s: list[float] = []
        full_stages: list[dict[str, float]] = []
        bare_s: list[float] = []
        bare_predict_s: list[float] = []
        with tempfile.TemporaryDirectory(prefix="keras-rewrite-bench-") as tmp:
            for i in range(validation_pairs):
                _log(f"[{label}] validation {i + 1}/{validation_pairs}")
                none_s.append(_timed(run_a)[0])
                t, result = _timed(lambda: rewrite.apply(model, case.rule, validate="full"))
                full_s.append(t)
                full_stages.append(dict(result.report.timings))
                if not result.report.passed:
                    out.setdefault("validation_failures", []).append(str(result.report.validation))
                del result
                bare_predict_s.append(_timed(lambda: _save_load_call(model, x, tmp, predict=True))[0])
                bare_s.append(_timed(lambda: _save_load_call(model, x, tmp))[0])
        costs = [f - n for f, n in zip(full_s, none_s)]
        val_ratios = [c / b for c, b in zip(costs, bare_predict_s)]
        call_ratios = [c / b for c, b in zip(costs, bare_s)]
        out["validation"] = {
            "none_s": none_s,
            "full_s": full_s,
            "save_load_call_s": bare_s,
            "save_load_predict_s": bare_predict_s,
            "call_ratios": call_ratios,
            "median_save_load_predict_s": statistics.median(bare_predict_s),
            "median_call_ratio": statistics.median(call_ratios),
            "cost_s": costs,
            "ratios": val_ratios,
            "median_cost_s": statistics.median(costs),
            "median_save_load_call_s": statistics.median(bare_s),
            "median_ratio": statistics.median(val_ratios),
            "full_stages_median_s": _stage_medians(full_s, full_stages),
            "probe_batch": PROBE_BATCH,
        }
    return out


# ------------------------------------------------------------------ report


def _loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the machine skews every timing."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _meta() -> dict[str, Any]:
    import keras
    import numpy

    meta: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": numpy.__version__,
    }
    try:
        import tensorflow as tf

        meta["tensorflow"] = tf.__version__
        meta["gpus"] = len(tf.config.list_physical_devices("GPU"))
    except ImportError:
        pass
    try:
        import rewrite

        meta["keras_rewrite"] = rewrite.__version__
    except ImportError:
        pass
    return meta


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            )
        )
    return "\n".join(lines)


def _stage_table(rows: list[tuple[str, dict[str, float]]]) -> str:
    order = ["graph", "plan", "probe", "materialize", "weights", "inplace", "validate", "evaluate"]
    present = {name for _, stages in rows for name in stages if name != "other"}
    names = [n for n in order if n in present] + sorted(present - set(order)) + ["other"]
    return _table(
        ["model", *names],
        [[model, *(f"{stages.get(n, 0.0):.3f}" for n in names)] for model, stages in rows],
    )


def render(results: dict[str, Any]) -> str:
    cases = results["cases"]
    opts = results["options"]
    parts = [
        f"keras-rewrite benchmarks: keras {results['meta']['keras']} ({results['meta']['backend']}), "
        f"{results['meta']['cpus']} CPUs, {opts['pairs']} A/B pairs, {opts['validation_pairs']} validation pairs",
        "",
        "1. Speed  A = rewrite.apply(validate='none'), B = clone_model + set_weights by hand "
        f"(target: median A/B <= {TARGET_SPEED_RATIO})",
        _table(
            [
                "model",
                "layers",
                "A median",
                "B median",
                "A/B median",
                "A/B min",
                "A/B max",
                "target",
            ],
            [
                [
                    c["model"],
                    str(c["layers"]),
                    f"{c['speed']['median_a_s']:.3f} s",
                    f"{c['speed']['median_b_s']:.3f} s",
                    f"{c['speed']['median_ratio']:.2f}",
                    f"{c['speed']['min_ratio']:.2f}",
                    f"{c['speed']['max_ratio']:.2f}",
                    _verdict(c["speed"]["median_ratio"] <= TARGET_SPEED_RATIO),
                ]
                for c in cases
            ],
        ),
        "",
        "   Where A's time goes (median seconds per stage of report.timings; 'other' = parse, report, rest)",
        _stage_table([(c["model"], c["a_stages_median_s"]) for c in cases]),
    ]
    parts += [
        "",
        f"2. Matching and planning share  rewrite.plan / median A (target: <= {TARGET_PLAN_SHARE:.0%})",
        _table(
            ["model", "plan median", "A median", "share", "target"],
            [
                [
                    c["model"],
                    f"{c['plan']['median_plan_s'] * 1000:.1f} ms",
                    f"{c['speed']['median_a_s']:.3f} s",
                    f"{c['plan']['share']:.1%}",
                    _verdict(c["plan"]["share"] <= TARGET_PLAN_SHARE),
                ]
                for c in cases
            ],
        ),
    ]
    with_validation = [c for c in cases if "validation" in c]
    if with_validation:
        parts += [
            "",
            "3. Validation cost  (validate='full' - validate='none') / (save + load_model + one predict, "
            f"batch {PROBE_BATCH}) (target: <= {TARGET_VALIDATION_RATIO}x); "
            "last column: against save + load + one direct call",
            _table(
                ["model", "none", "full", "full - none", "save+load+predict", "ratio", "target", "save+load+call", "ratio"],
                [
                    [
                        c["model"],
                        f"{statistics.median(c['validation']['none_s']):.2f} s",
                        f"{statistics.median(c['validation']['full_s']):.2f} s",
                        f"{c['validation']['median_cost_s']:.2f} s",
                        f"{c['validation']['median_save_load_predict_s']:.2f} s",
                        f"{c['validation']['median_ratio']:.2f}x",
                        _verdict(c["validation"]["median_ratio"] <= TARGET_VALIDATION_RATIO),
                        f"{c['validation']['median_save_load_call_s']:.2f} s",
                        f"{c['validation']['median_call_ratio']:.2f}x",
                    ]
                    for c in with_validation
                ],
            ),
            "",
            "   Where validate='full' spends its time (median seconds per stage of report.timings)",
            _stage_table(
                [(c["model"], c["validation"]["full_stages_median_s"]) for c in with_validation]
            ),
        ]
    parts += ["", "Targets"]
    if opts["quick"]:
        parts.append(
            "  (--quick: a tiny model, a smoke test; the targets are meant for the application models)"
        )
    for name, ok in results["targets"].items():
        parts.append(f"  {name}: {_verdict(ok) if ok is not None else 'not measured'}")
    problems = [(c["model"], p) for c in cases for p in c["equivalence_problems"]]
    if problems:
        parts += ["", "WARNING: A and B did not build the same model:"]
        parts += [f"  {m}: {p}" for m, p in problems[:20]]
    else:
        parts += ["", "A and B built the same model for every case (configs and weights compared)."]
    for c in cases:
        for failure in c.get("validation_failures", []):
            parts.append(f"WARNING: {c['model']}: validate='full' failed: {failure}")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    load_start = _loadavg()  # before this process does any work
    args = _parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {**_meta(), "loadavg_start": load_start},
        "options": {
            "models": args.models,
            "pairs": args.pairs,
            "validation_pairs": args.validation_pairs,
            "quick": args.quick,
        },
        "targets_definition": {
            "speed_ratio_max": TARGET_SPEED_RATIO,
            "plan_share_max": TARGET_PLAN_SHARE,
            "validation_ratio_max": TARGET_VALIDATION_RATIO,
        },
        "cases": [],
        "errors": [],
    }
    for key in args.models:
        try:
            results["cases"].append(run_case(key, args.quick, args.pairs, args.validation_pairs))
        except Exception as exc:  # report and go on with the other models
            import traceback

            _log(f"[{key}] FAILED:\n{traceback.format_exc()}")
            results["errors"].append(
                {
                    "model": key,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            )
    cases = results["cases"]
    validated = [c for c in cases if "validation" in c]
    results["targets"] = {
        f"speed: median A/B <= {TARGET_SPEED_RATIO} on every model": all(
            c["speed"]["median_ratio"] <= TARGET_SPEED_RATIO for c in cases
        )
        if cases
        else None,
        f"planning share <= {TARGET_PLAN_SHARE:.0%} on every model": all(
            c["plan"]["share"] <= TARGET_PLAN_SHARE for c in cases
        )
        if cases
        else None,
        f"validation cost <= {TARGET_VALIDATION_RATIO}x save/load on every model": all(
            c["validation"]["median_ratio"] <= TARGET_VALIDATION_RATIO for c in validated
        )
        if validated
        else None,
    }
    results["total_s"] = time.perf_counter() - started
    results["meta"]["loadavg_end"] = _loadavg()
    if cases:
        print(render(results))
    for error in results["errors"]:
        print(f"\nERROR: {error['model']}: {error['error']}")
    meta = results["meta"]
    print(
        f"\ntotal {results['total_s']:.0f} s; load average (1, 5, 15 min) "
        f"{meta['loadavg_start']} at start, {meta['loadavg_end']} at end"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
            fh.write("\n")
        print(f"results written to {args.json}")
    failed = bool(results["errors"]) or any(
        c["equivalence_problems"] or c.get("validation_failures") for c in cases
    )
    return 1 if failed else 0
