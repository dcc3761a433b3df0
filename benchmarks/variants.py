"""Many variants of one model: keras-rewrite's search path against the hand-written loop.

    python -m benchmarks.variants [--variants 50] [--quick]
    python -m benchmarks.variants --files 40 [--jobs 2]

MobileNetV2 (weights=None) and a rule file with two params (the activation of its
35 ReLU layers, the activation of its classifier): 10 x 5 = 50 distinct variants.
A = `rewrite.search.variants(..., validate="config")` (plan, build, weights, config
check per variant; graph view shared); B = per variant, `clone_model` with a
hand-written clone function doing the same edits, then a `set_weights` loop. The
two alternate per variant; the target is A <= 0.5x B per variant.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from benchmarks.suite import _timed

RULES = """
param act = gelu in [relu, gelu, silu, tanh, elu, selu, softplus, sigmoid, hard_sigmoid, mish]
param head = softmax in [softmax, linear, sigmoid, relu, tanh]
replace ReLU with Activation($act)
Dense[name = "predictions"].activation := $head
"""
TARGET = 0.5


def hand_written(model: Any, act: str, head: str) -> Any:
    import keras

    def clone(layer: Any) -> Any:
        if isinstance(layer, keras.layers.ReLU):
            return keras.layers.Activation(act, name=layer.name)
        config = layer.get_config()
        if layer.name == "predictions":
            config["activation"] = head
        return layer.__class__.from_config(config)

    new = keras.models.clone_model(model, clone_function=clone)
    by_name = {layer.name: layer for layer in new.layers}
    for old in model.layers:
        if old.weights and old.name in by_name:
            by_name[old.name].set_weights(old.get_weights())
    return new


def files(count: int, jobs: int) -> int:
    """Variants written to .keras files: the hand-written loop with `model.save`, then
    `keras-rewrite search --grid` in one process and in `jobs` worker processes, and
    last with `--drift` (each variant's output drift measured). All write the grid's
    first `count` points (a multiple of 5: whole rows of the grid)."""
    import shutil
    import tempfile
    from pathlib import Path

    import keras

    import rewrite
    from rewrite.cli.main import main as cli

    with tempfile.TemporaryDirectory(prefix="keras-rewrite-bench-files-") as tmp:
        root = Path(tmp)
        model = keras.applications.MobileNetV2(weights=None)
        model.save(root / "base.keras")
        # The grid's first `count` points: `act` cut to its first count // 5 values, all 5 heads.
        acts = rewrite.from_text(RULES).space()["act"].values[: count // 5]
        rules = root / "first.rw"
        act_line = next(line for line in RULES.splitlines() if line.startswith("param act "))
        rules.write_text(RULES.replace(act_line, f"param act = {acts[0]} in [{', '.join(acts)}]"))
        params = rewrite.load(rules).grid()  # distinct, so both sides write every one
        start = time.perf_counter()
        for i, p in enumerate(params):
            hand_written(model, p["act"], p["head"]).save(root / f"hand_{i:03d}.keras")
        timings = {"B by hand, model.save": time.perf_counter() - start}
        for n, extra in [*((n, []) for n in sorted({1, jobs})), (jobs, ["--drift"])]:
            out = root / f"jobs{n}"
            start = time.perf_counter()
            assert cli(["search", str(root / "base.keras"), str(rules), "--grid", "-o", str(out), "--jobs", str(n), *extra]) == 0
            timings[f"A search --jobs {n} {' '.join(extra)}"] = time.perf_counter() - start
            assert len(list(out.glob("variant_*.keras"))) == len(params)
            shutil.rmtree(out)
    print(f"{len(params)} distinct variants of MobileNetV2 written to .keras files by each side")
    for label, seconds in timings.items():
        print(f"  {label:34s}: {seconds:6.1f} s in all ({seconds / timings['B by hand, model.save']:.2f} of B)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants")
    parser.add_argument("--variants", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a tiny model and 4 variants (smoke test)")
    parser.add_argument("--files", type=int, metavar="N", help="instead: N draws written to files, by hand and by `search` (one and --jobs processes)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for --files (default 2)")
    args = parser.parse_args(argv)
    if args.files:
        if args.files % 5 or not 5 <= args.files <= 50:
            parser.error("--files takes a multiple of 5 from 5 to 50 (whole rows of the 10 x 5 grid)")
        return files(args.files, args.jobs)
    import keras

    import rewrite
    from rewrite.engine import ModelCache
    from rewrite.search import signature

    if args.quick:
        x = keras.Input((8, 8, 3))
        h = keras.layers.ReLU(name="r")(keras.layers.Conv2D(4, 3, name="c")(x))
        model = keras.Model(x, keras.layers.Dense(3, name="predictions")(keras.layers.Flatten()(h)))
        count = 4
    else:
        model = keras.applications.MobileNetV2(weights=None)
        count = args.variants
    rules = rewrite.from_text(RULES)
    params = rules.grid()[:count]
    cache = ModelCache.of(model)
    times_a: list[float] = []
    times_b: list[float] = []
    signatures = set()
    start = time.perf_counter()
    for p in params:
        t, result = _timed(lambda p=p: rules.apply(model, params=p, validate="config", cache=cache))
        assert result.report.passed
        signatures.add(signature(result.report))
        times_a.append(t)
        times_b.append(_timed(lambda p=p: hand_written(model, p["act"], p["head"]))[0])
    total = time.perf_counter() - start
    ratio = statistics.median(a / b for a, b in zip(times_a, times_b))
    print(f"{len(params)} variants ({len(signatures)} distinct plans) of {model.name}, validate='config', {total:.0f} s in all")
    print(f"  A keras-rewrite : {statistics.median(times_a):.3f} s per variant (median), {len(params) / sum(times_a):.2f} variants/s")
    print(f"  B by hand       : {statistics.median(times_b):.3f} s per variant (median), {len(params) / sum(times_b):.2f} variants/s")
    print(f"  A/B per variant : {ratio:.2f} (median; target <= {TARGET}): {'met' if ratio <= TARGET else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
