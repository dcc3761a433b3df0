"""Many variants of one model: keras-rewrite's search path against the hand-written loop.

    python -m benchmarks.variants [--variants 50] [--quick]

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants")
    parser.add_argument("--variants", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a tiny model and 4 variants (smoke test)")
    args = parser.parse_args(argv)
    import keras

    import rewrite
    from rewrite.engine import Prepared
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
    prepared = Prepared.of(model)
    times_a: list[float] = []
    times_b: list[float] = []
    signatures = set()
    start = time.perf_counter()
    for p in params:
        t, result = _timed(lambda p=p: rules.apply(model, params=p, validate="config", prepared=prepared))
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
