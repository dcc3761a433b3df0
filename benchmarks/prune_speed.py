"""Structured pruning of a keras.applications model against an unpruned rewrite of the same model.

A prunes 30% of the channels model-wide (`prune * by l1 ratio=0.3 except
Dense[name = "predictions"]`: channel groups, importance, every weight sliced);
B swaps the activations (`... .activation := gelu`), a rewrite that keeps every
weight's shape. Both in clone mode with `validate="none"`, alternating A B A B on
the same model after a warm-up; the table shows the median of each and A/B, with
the parameter counts before and after pruning.

    python -m benchmarks.prune_speed [--model ResNet50] [--size 64] [--pairs 2]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from benchmarks.harness import log, table, timed

PRUNE = 'prune * by l1 ratio=0.3 except Dense[name = "predictions"]'
SWAP = "(Activation | Dense | Conv2D)[activation = relu].activation := gelu"


def build(name: str, size: int) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    if name == "zoo":  # a small model, for the smoke test
        from rewrite.zoo import cnn

        return cnn()
    return getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)


def measure(name: str, size: int, pairs: int) -> dict[str, Any]:
    import rewrite

    model = build(name, size)
    prune, swap = rewrite.from_text(PRUNE), rewrite.from_text(SWAP)
    a_times, b_times = [], []
    result = None
    for i in range(pairs + 1):  # the first pair warms both paths up
        a, result = timed(lambda: prune.apply(model, validate="none"))
        b, _ = timed(lambda: swap.apply(model, validate="none"))
        if i:
            a_times.append(a)
            b_times.append(b)
    assert result is not None and result.report.cost is not None
    a_med, b_med = statistics.median(a_times), statistics.median(b_times)
    return {
        "model": name,
        "size": size,
        "pairs": pairs,
        "prune_s": a_med,
        "swap_s": b_med,
        "ratio": a_med / b_med,
        "params_before": result.report.cost.params_before,
        "params_after": result.model.count_params(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prune_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="ResNet50", help="a keras.applications class, or `zoo` for a small model")
    parser.add_argument("--size", type=int, default=64, help="input height and width")
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args(argv)
    log(f"prune 30%: {args.model} at {args.size}x{args.size}, {args.pairs} pairs")
    row = measure(args.model, args.size, args.pairs)
    print(
        table(
            ["model", "params before", "params after", "prune (s)", "activation swap (s)", "A/B"],
            [[
                row["model"], f"{row['params_before']:,}", f"{row['params_after']:,}",
                f"{row['prune_s']:.2f}", f"{row['swap_s']:.2f}", f"{row['ratio']:.2f}",
            ]],
        )
    )
    return 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main())
