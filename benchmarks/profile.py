"""Where a rewrite's time goes, against the hand-written way: the figures behind docs/benchmarks.md.

    python -m benchmarks.profile mobilenetv2 [--runs 5] [--pyinstrument out.txt]

Times (process CPU, median of --runs alternating A/B runs) the Keras work both
sides do, by wrapping these Keras entry points for the duration of the run:

    construct   Layer.from_config (every layer rebuilt from its config)
    variables   Layer.add_weight (variables created: A from the kept values, B randomly)
    call        Layer.__call__ on symbolic inputs, less the variables created inside it
    copy        B's get_weights + set_weights loop; A's variable-to-variable transfer
    rest        everything else (clone_model's bookkeeping, graph view, plan, report)

With --pyinstrument (pip install keras-rewrite[bench]) it also writes a call-tree
profile of three A runs to the given file.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness import table

CATEGORIES = ["construct", "variables", "call", "copy", "rest"]


class _Meter:
    """CPU seconds spent inside wrapped functions (outermost calls only)."""

    def __init__(self) -> None:
        self.spent: collections.Counter[str] = collections.Counter()
        self.depth: collections.Counter[str] = collections.Counter()
        self.undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attr: str, label: str, classmethod_: bool = False) -> None:
        original = owner.__dict__[attr]
        func = original.__func__ if classmethod_ else original

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.depth[label]:
                return func(*args, **kwargs)
            self.depth[label] += 1
            start = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.spent[label] += time.process_time() - start
                self.depth[label] -= 1

        setattr(owner, attr, classmethod(wrapper) if classmethod_ else wrapper)
        self.undo.append(lambda: setattr(owner, attr, original))

    def restore(self) -> None:
        for undo in reversed(self.undo):
            undo()


def breakdown(key: str, runs: int) -> dict[str, dict[str, float]]:
    import keras
    from keras.src.layers.layer import Layer
    from keras.src.ops.operation import Operation

    import rewrite
    import rewrite.engine
    from benchmarks.cases import CASES, baseline

    case = CASES[key]
    model = case.build()
    sides = {"A": lambda: rewrite.apply(model, case.rule, validate="none"), "B": lambda: baseline(model, case)}
    for run in sides.values():
        run()  # warm-up
    meter = _Meter()
    meter.wrap(Operation, "from_config", "construct", classmethod_=True)
    meter.wrap(Layer, "add_weight", "variables")
    meter.wrap(Layer, "__call__", "call+variables")
    meter.wrap(Layer, "get_weights", "get")
    meter.wrap(Layer, "set_weights", "set")
    meter.wrap(rewrite.engine, "transfer", "transfer")
    samples: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    try:
        for _ in range(runs):
            for side, run in sides.items():
                meter.spent.clear()
                start = time.process_time()
                run()
                total = time.process_time() - start
                s = meter.spent
                parts = {
                    "construct": s["construct"],
                    "variables": s["variables"],
                    "call": s["call+variables"] - s["variables"],
                    "copy": s["get"] + s["set"] + s["transfer"],
                }
                parts["rest"] = total - sum(parts.values())
                parts["total"] = total
                samples[side].append(parts)
    finally:
        meter.restore()
    del keras
    return {side: {k: statistics.median(p[k] for p in rows) for k in [*CATEGORIES, "total"]} for side, rows in samples.items()}


def render(key: str, result: dict[str, dict[str, float]]) -> str:
    a, b = result["A"], result["B"]
    rows = [[c, f"{a[c]:.3f}", f"{b[c]:.3f}", f"{a[c] / b['total']:.0%}", f"{b[c] / b['total']:.0%}"] for c in CATEGORIES]
    rows.append(["total", f"{a['total']:.3f}", f"{b['total']:.3f}", f"{a['total'] / b['total']:.0%}", "100%"])
    return f"{key}: CPU seconds (median), A = rewrite, B = by hand; shares of B's total\n" + table(
        ["part", "A", "B", "A / B total", "B / B total"], rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("model", help="a key of benchmarks.cases.CASES")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pyinstrument", metavar="PATH", help="also write a pyinstrument call tree of A to PATH")
    args = parser.parse_args(argv)
    print(render(args.model, breakdown(args.model, args.runs)))
    if args.pyinstrument:
        from pyinstrument import Profiler

        import rewrite
        from benchmarks.cases import CASES

        case = CASES[args.model]
        model = case.build()
        rewrite.apply(model, case.rule, validate="none")
        profiler = Profiler(interval=0.001)
        profiler.start()
        for _ in range(3):
            rewrite.apply(model, case.rule, validate="none")
        profiler.stop()
        with open(args.pyinstrument, "w") as fh:
            fh.write(profiler.output_text(unicode=False, color=False))
        print(f"call tree written to {args.pyinstrument}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main())
