"""int8 quantization of a stack of Dense layers: `quantize Dense int8` against the hand-written way.

The hand-written way is what a script does without keras-rewrite: clone the model,
copy its weights, then Keras's `model.quantize("int8")`. The rewrite (clone mode,
`validate="none"`) does the same work and defers Keras's per-variable garbage
collection to one collection per statement. Runs alternate A (the rewrite) and B
(by hand) on the same model; the table shows the median of each and A/B.

    python -m benchmarks.quantize_speed [--layers 48] [--width 256] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from benchmarks.harness import log, table, timed


def build(layers: int, width: int) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((width,))
    x = inputs
    for i in range(layers):
        x = keras.layers.Dense(width, activation="relu", name=f"dense_{i}")(x)
    return keras.Model(inputs, x, name=f"dense_stack_{layers}")


def by_hand(model: Any) -> Any:
    import keras

    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.quantize("int8")
    return twin


def measure(layers: int, width: int, pairs: int) -> dict[str, Any]:
    import rewrite

    model = build(layers, width)
    rules = rewrite.from_text("quantize Dense int8")
    a_times, b_times = [], []
    for i in range(pairs + 1):  # the first pair warms both paths up
        a, _ = timed(lambda: rules.apply(model, validate="none"))
        b, _ = timed(lambda: by_hand(model))
        if i:
            a_times.append(a)
            b_times.append(b)
    a_med, b_med = statistics.median(a_times), statistics.median(b_times)
    return {"layers": layers, "width": width, "pairs": pairs, "rewrite_s": a_med, "by_hand_s": b_med, "ratio": a_med / b_med}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quantize_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    log(f"quantize int8: {args.layers} Dense({args.width}) layers, {args.pairs} pairs")
    row = measure(args.layers, args.width, args.pairs)
    print(
        table(
            ["layers", "rewrite (s)", "by hand (s)", "A/B"],
            [[str(row["layers"]), f"{row['rewrite_s']:.2f}", f"{row['by_hand_s']:.2f}", f"{row['ratio']:.2f}"]],
        )
    )
    return 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main())
