"""Every benchmark from one entry point: `python -m benchmarks` (`make bench`).

Sections, in the order they run (`--only` picks some):

    speed     whole models (keras.applications, a transformer stack): rewrite vs by hand,
              planning share, validation cost, in-place time per changed layer
    scaling   synthetic residual chains of 1,000 / 2,000 / 5,000 layers; the scaling plot
    memory    peak RSS of a rewrite in a fresh process
    large     0.5, 1 and 2 GB models: load, by hand, `apply --validate none|config|full`, the API
              (benchmarks.large_models); the memory-per-size plot
    parser    one rule file of 10,000 statements, parse + check
    check     `keras-rewrite check` on 200 files in a fresh process (benchmarks.check_speed)
    variants  20 variants of MobileNetV2 (benchmarks.variants --variants 20, run as it is)

The run ends with every design target, its measured value and whether it was met;
the raw figures go to a JSON file and, with `--docs`, the tables go into
docs/benchmarks.md between its `results` markers. Timings are never asserted: the
test suite runs `--quick` (tiny configurations of every section) to keep this
script working.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import Target, loadavg, log, meta, table, timed, verdict

# Design targets (docs/benchmarks.md).
TARGET_SPEED_RATIO = 0.6  # median A/B, keras.applications models
TARGET_PLAN_SHARE = 0.05  # plan time / median A time
TARGET_VALIDATION_RATIO = 1.2  # (full - none) / (save + load + predict)
TARGET_FLATNESS = 1.5  # largest / smallest time per layer, 1,000 to 5,000 layers
TARGET_MEMORY = 1.1  # peak / (original + rewritten)
TARGET_INPLACE_MS = 1.0  # ms per changed layer
TARGET_PARSE_S = 1.0  # 10,000 statements, parse + check
TARGET_CHECK_S = 2.0  # check of 200 files in a fresh process
TARGET_VARIANTS = 0.5  # benchmarks.variants, per-variant A/B

VARIANTS = 20  # of benchmarks.variants' 50 (its own default), to keep `make bench` short

SECTIONS = ["speed", "scaling", "memory", "large", "parser", "check", "variants"]
APPLICATIONS = ["resnet50", "mobilenetv2", "efficientnetb0", "densenet121", "convnexttiny"]
DEFAULT_MODELS = [*APPLICATIONS, "transformer24"]
MEMORY_MODELS = ["resnet50", "efficientnetb0"]
LARGE_SIZES = [0.5, 1.0, 2.0]  # GB of weights

RESULTS_BEGIN = "<!-- results:begin (written by python -m benchmarks --docs) -->"
RESULTS_END = "<!-- results:end -->"

_timed = timed  # benchmarks.variants imports it from here


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    from benchmarks.cases import CASES

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run every keras-rewrite benchmark and print each design target with its verdict.",
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections from: {', '.join(SECTIONS)}")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"speed section models, from: {', '.join(CASES)}")
    parser.add_argument("--pairs", type=int, default=None, help="timed A/B pairs per model (default 5; 2 with --quick)")
    parser.add_argument("--validation-pairs", type=int, default=None, help="validation triples per model (default 2; 1 with --quick)")
    parser.add_argument("--sizes", default=None, help="scaling layer counts (default 1000,2000,5000; 10,20,40 with --quick)")
    parser.add_argument("--scaling-pairs", type=int, default=None, help="A/B pairs per scaling size (default 2; 1 with --quick)")
    parser.add_argument("--statements", type=int, default=None, help="parser statements (default 10000; 200 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny configurations of every section (a smoke test, seconds)")
    parser.add_argument("--json", metavar="PATH", help="write the raw results as JSON (default benchmarks/results.json without --quick)")
    parser.add_argument("--docs", metavar="PATH", help="write the result tables into this markdown file, between its markers")
    parser.add_argument("--plot", metavar="PATH", help="the scaling plot (default docs/img/scaling.png without --quick)")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown or not args.only:
        parser.error(f"--only: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(SECTIONS)}")
    args.models = [k.strip().lower() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in args.models if k not in CASES]
    if unknown or not args.models:
        parser.error(f"--models: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(CASES)}")
    q = args.quick
    args.pairs = args.pairs if args.pairs is not None else (2 if q else 5)
    args.validation_pairs = args.validation_pairs if args.validation_pairs is not None else (1 if q else 2)
    args.scaling_pairs = args.scaling_pairs if args.scaling_pairs is not None else (1 if q else 2)
    args.statements = args.statements if args.statements is not None else (200 if q else 10_000)
    sizes = args.sizes or ("10,20,40" if q else "1000,2000,5000")
    args.sizes = [int(s) for s in sizes.split(",") if s.strip()]
    if q:
        args.models = args.models[:1] if args.models != DEFAULT_MODELS else ["resnet50"]
    if args.pairs < 1 or args.validation_pairs < 0 or args.scaling_pairs < 1 or len(args.sizes) < 2:
        parser.error("--pairs and --scaling-pairs must be >= 1, --validation-pairs >= 0, --sizes at least two")
    partial = set(args.only) != set(SECTIONS)
    if partial and args.docs:
        parser.error("--docs rewrites every table of docs/benchmarks.md: run every section (leave out --only)")
    if args.json is None and not q and not partial:
        args.json = "benchmarks/results.json"  # the record of a whole run; a part only prints
    if args.plot is None and not q:
        args.plot = "docs/img/scaling.png"
    args.memory_plot = None if q else "docs/img/memory.png"
    return args


# ------------------------------------------------------------------ sections


def section_speed(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import speed

    return {"cases": [speed.run_case(key, args.quick, args.pairs, args.validation_pairs) for key in args.models]}


def section_scaling(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import scaling

    result = scaling.run(args.sizes, args.scaling_pairs, inplace_size=args.sizes[len(args.sizes) // 2])
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        scaling.plot(result, args.plot)
        result["plot"] = args.plot
    return result


def section_memory(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import memory

    return memory.run(["resnet50"] if args.quick else MEMORY_MODELS, args.quick)


def section_large(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import large_models

    result = large_models.run([0.001] if args.quick else LARGE_SIZES, args.quick)
    if args.memory_plot and result["rows"]:
        Path(args.memory_plot).parent.mkdir(parents=True, exist_ok=True)
        large_models.plot(result, args.memory_plot)
        result["plot"] = args.memory_plot
    return result


def section_parser(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import parser_speed

    return parser_speed.run(args.statements, 3)


def section_check(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import check_speed

    return check_speed.run(5, runs=1) if args.quick else check_speed.run(200)


def section_variants(args: argparse.Namespace) -> dict[str, Any]:
    """benchmarks.variants as it is (its own module); its lines are kept and its ratio read."""
    from benchmarks import variants

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = variants.main(["--quick"] if args.quick else ["--variants", str(VARIANTS)])
    text = out.getvalue()
    found = re.search(r"A/B per variant\s*:\s*([0-9.]+)", text)
    return {"output": text.strip(), "returncode": code, "median_ratio": float(found.group(1)) if found else None}


RUNNERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "speed": section_speed,
    "scaling": section_scaling,
    "memory": section_memory,
    "large": section_large,
    "parser": section_parser,
    "check": section_check,
    "variants": section_variants,
}


# ------------------------------------------------------------------ targets


def targets(results: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    sec = results["sections"]
    speed = sec.get("speed", {}).get("cases", [])
    for c in speed:
        if c["application"]:
            s = c["speed"]
            out.append(Target(f"rewrite / by hand, {c['model']}", s["median_ratio"], TARGET_SPEED_RATIO, "x",
                              f"median of {len(s['ratios'])} pairs, range {s['min_ratio']:.2f}-{s['max_ratio']:.2f}", "speed"))
    for c in speed:
        if c["application"] and "validation" in c:
            v = c["validation"]
            out.append(Target(f"full validation / save+load+predict, {c['model']}", v["median_ratio"], TARGET_VALIDATION_RATIO, "x",
                              f"median of {len(v['ratios'])}, range {v['ratio_range']['min']:.2f}-{v['ratio_range']['max']:.2f}", "validation"))
    shares = [(c["model"], c["plan"]["share"]) for c in speed]
    shares += [(f"deep{r['size']}", r["plan_share"]) for r in sec.get("scaling", {}).get("rows", [])]
    if shares:
        worst = max(shares, key=lambda s: s[1])
        out.append(Target("parse + check + graph + match + plan / rewrite", worst[1], TARGET_PLAN_SHARE, "%",
                          f"worst of {len(shares)} models: {worst[0]}", "plan"))
    scaling = sec.get("scaling")
    if scaling:
        rows = scaling["rows"]
        out.append(Target(f"time per layer, {rows[0]['layers']} to {rows[-1]['layers']} layers (max/min)", scaling["flatness"],
                          TARGET_FLATNESS, "x", ", ".join(f"{r['a_ms_per_layer']:.2f}" for r in rows) + " ms/layer", "scaling"))
    memory = sec.get("memory")
    if memory is not None:
        a_rows = [r for r in memory.get("rows", []) if r["side"] == "a" and r["ratio"] is not None]
        worst_row = max(a_rows, key=lambda r: r["ratio"]) if a_rows else None
        out.append(Target("peak memory / (original + rewritten)", worst_row["ratio"] if worst_row else None, TARGET_MEMORY, "x",
                          f"worst of {len(a_rows)}: {worst_row['model']}" if worst_row else memory.get("skipped", ""), "memory"))
    large = sec.get("large")
    if large is not None and large.get("rows"):
        out += large_targets(large)
    inplace = [(c["model"], c["inplace"]) for c in speed if "inplace" in c]
    if scaling and scaling.get("inplace"):
        inplace.append((scaling["inplace_model"], scaling["inplace"]))
    judged = [(m, r) for m, r in inplace if r["judged"]]
    if inplace:
        worst_ip = max(judged, key=lambda x: x[1]["ms_per_changed_layer"]) if judged else None
        out.append(Target("in place, per changed layer", worst_ip[1]["ms_per_changed_layer"] if worst_ip else None, TARGET_INPLACE_MS, "ms",
                          f"worst of {len(judged)} models changing >= 20 layers: {worst_ip[0]}" if worst_ip else "no model changes >= 20 layers",
                          "inplace"))
    parser = sec.get("parser")
    if parser:
        out.append(Target(f"parse + check {parser['statements']:,} statements", parser["median_s"], TARGET_PARSE_S, "s",
                          f"median of {len(parser['runs_s'])}; first call {parser['first_s']:.2f} s", "parser"))
    check = sec.get("check")
    if check:
        ok_run = check["returncode"] == 0 and check["heavy"] == "HEAVY []"
        out.append(Target(f"check {check['files']} files, fresh process", check["best_s"] if ok_run else None, TARGET_CHECK_S, "s",
                          f"best of {len(check['runs_s'])}; TensorFlow not imported" if ok_run else f"failed: {check['summary']} {check['heavy']}",
                          "check"))
    variants = sec.get("variants")
    if variants:
        out.append(Target("variants: per-variant A/B (benchmarks.variants)", variants["median_ratio"], TARGET_VARIANTS, "x",
                          "validate='config' per variant", "variants"))
    return out


def large_targets(large: dict[str, Any]) -> list[Target]:
    """Each large-model target, judged on the worst size (ratios to load_model in the same run)."""
    from benchmarks import large_models as lm

    wanted = [
        ("apply --validate full, peak / load_model's", "cli-full peak", lm.TARGET_FULL),
        ("apply --validate config, peak / load_model's", "cli-config peak", lm.TARGET_LIGHT),
        ("apply --validate none, peak / load_model's", "cli-none peak", lm.TARGET_LIGHT),
        ("apply --validate full, time / load_model's", "cli-full time", lm.TARGET_FULL_TIME),
        ("apply --validate none, time / load_model's", "cli-none time", lm.TARGET_NONE_TIME),
        ("API clone, (peak - original) / result", "api over original + result", lm.TARGET_API),
    ]
    out = []
    for name, key, limit in wanted:
        found = [(r["weights"], lm.ratios(r)[key]) for r in large["rows"] if key in lm.ratios(r)]
        if found:
            weights, worst = max(found, key=lambda f: f[1])
            out.append(Target(name, worst, limit, "x", f"worst of {len(found)} sizes: {weights / 2**20:,.0f} MB of weights", "large"))
    return out


def render_targets(items: list[Target]) -> str:
    return table(
        ["target", "measured", "limit", "verdict", "detail"],
        [[t.name, t.show(t.measured), ("< " if t.unit == "s" else "<= ") + t.show(t.limit), verdict(t.met), t.detail] for t in items],
    )


# ------------------------------------------------------------------ report


def render(results: dict[str, Any]) -> str:
    from benchmarks import inplace, large_models, memory, parser_speed, scaling, speed

    sec = results["sections"]
    m = results["meta"]
    parts = [
        f"keras-rewrite benchmarks: keras {m['keras']} ({m['backend']}), {m['cpus']} CPUs"
        + (" (--quick: tiny configurations, a smoke test; the targets are meant for the full run)" if results["options"]["quick"] else ""),
    ]
    if "speed" in sec:
        cases = sec["speed"]["cases"]
        parts += ["", speed.render(cases, TARGET_SPEED_RATIO, TARGET_PLAN_SHARE, TARGET_VALIDATION_RATIO)]
    ip_rows = [(c["model"], c["inplace"]) for c in sec.get("speed", {}).get("cases", []) if "inplace" in c]
    if "scaling" in sec:
        parts += ["", scaling.render(sec["scaling"], TARGET_FLATNESS)]
        if "plot" in sec["scaling"]:
            parts.append(f"  plot: {sec['scaling']['plot']}")
        if sec["scaling"].get("inplace"):
            ip_rows.append((sec["scaling"]["inplace_model"], sec["scaling"]["inplace"]))
    if ip_rows:
        parts += ["", inplace.render(ip_rows, TARGET_INPLACE_MS)]
    if "memory" in sec:
        parts += ["", memory.render(sec["memory"], TARGET_MEMORY)]
    if "large" in sec:
        parts += ["", large_models.render(sec["large"])]
        if "plot" in sec["large"]:
            parts.append(f"  plot: {sec['large']['plot']}")
    if "parser" in sec:
        parts += ["", parser_speed.render(sec["parser"], TARGET_PARSE_S)]
    if "check" in sec:
        c = sec["check"]
        parts += ["", f"Check  {c['files']} files, fresh process: best {c['best_s']:.2f} s of {', '.join(f'{t:.2f}' for t in c['runs_s'])}; {c['summary']}; {c['heavy']}"]
    if "variants" in sec:
        parts += ["", "Variants (benchmarks.variants)", *("  " + line for line in sec["variants"]["output"].splitlines())]
    parts += ["", "Targets", render_targets(results["target_list"])]
    parts += ["", *problems(results)]
    return "\n".join(parts)


def problems(results: dict[str, Any]) -> list[str]:
    sec = results["sections"]
    found = [(c["model"], p) for c in sec.get("speed", {}).get("cases", []) for p in c["equivalence_problems"]]
    found += [("deep graphs", p) for p in sec.get("scaling", {}).get("equivalence_problems", [])]
    lines = [f"WARNING: A and B did not build the same model: {m}: {p}" for m, p in found[:20]]
    if not found and ("speed" in sec or "scaling" in sec):
        lines.append("A and B built the same model in every comparison (configs and weights compared).")
    for c in sec.get("speed", {}).get("cases", []):
        for failure in c.get("validation", {}).get("failures", []):
            lines.append(f"WARNING: {c['model']}: validate='full' failed: {failure}")
    if sec.get("parser", {}).get("errors"):
        lines.append(f"WARNING: the generated rule file has errors: {sec['parser']['errors']}")
    for error in results["errors"]:
        lines.append(f"ERROR: {error['section']}: {error['error']}")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The results block of docs/benchmarks.md: versions, the targets, then every table."""
    m = results["meta"]
    lines = [
        f"Recorded {m['date'][:10]} with `make bench` ({results['total_s'] / 60:.1f} minutes): Python {m['python']}, "
        f"Keras {m['keras']} ({m['backend']} {m.get('tensorflow', '')}), NumPy {m['numpy']}, {m['cpus']} CPUs; "
        f"load average {m['loadavg_start']} at the start, {m['loadavg_end']} at the end.",
        "",
        "| target | measured | limit | verdict | detail |",
        "|---|---:|---:|---|---|",
    ]
    for t in results["target_list"]:
        lines.append(f"| {t.name} | {t.show(t.measured)} | {t.show(t.limit)} | {verdict(t.met)} | {t.detail} |")
    lines += ["", "Every table of the run, as printed:", "", "```text", render(results), "```"]
    if "plot" in results["sections"].get("scaling", {}):
        lines += ["", "![Rewrite time against layer count](img/scaling.png)"]
    if "plot" in results["sections"].get("large", {}):
        lines += ["", "![Peak memory against model size](img/memory.png)"]
    return "\n".join(lines)


def write_docs(path: str, block: str) -> None:
    doc = Path(path)
    text = doc.read_text("utf-8")
    if RESULTS_BEGIN not in text or RESULTS_END not in text:
        raise SystemExit(f"{path}: no `{RESULTS_BEGIN}` ... `{RESULTS_END}` markers to write between")
    head, rest = text.split(RESULTS_BEGIN, 1)
    _, tail = rest.split(RESULTS_END, 1)
    doc.write_text(f"{head}{RESULTS_BEGIN}\n{block}\n{RESULTS_END}{tail}", "utf-8")


def main(argv: list[str] | None = None) -> int:
    load_start = loadavg()  # before this process does any work
    args = _parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {**meta(), "loadavg_start": load_start},
        "options": {k: v for k, v in vars(args).items()},
        "sections": {},
        "section_s": {},
        "errors": [],
    }
    for name in args.only:
        log(f"== {name}")
        t0 = time.perf_counter()
        try:
            results["sections"][name] = RUNNERS[name](args)
        except Exception as exc:  # report and go on with the other sections
            log(f"[{name}] FAILED:\n{traceback.format_exc()}")
            results["errors"].append({"section": name, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        results["section_s"][name] = time.perf_counter() - t0
    results["total_s"] = time.perf_counter() - started
    results["meta"]["loadavg_end"] = loadavg()
    results["target_list"] = targets(results)
    print(render(results))
    m = results["meta"]
    print(f"\ntotal {results['total_s']:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in results['section_s'].items())}); "
          f"load average (1, 5, 15 min) {m['loadavg_start']} at start, {m['loadavg_end']} at end")
    if args.docs:
        write_docs(args.docs, markdown(results))
        print(f"tables written to {args.docs}")
    if args.json:
        data = {**results, "targets": [t.to_json() for t in results.pop("target_list")]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, default=str)
            fh.write("\n")
        print(f"results written to {args.json}")
    sec = results["sections"]
    failed = bool(results["errors"]) or any(
        c["equivalence_problems"] or c.get("validation", {}).get("failures") for c in sec.get("speed", {}).get("cases", [])
    ) or bool(sec.get("scaling", {}).get("equivalence_problems")) or bool(sec.get("parser", {}).get("errors"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
