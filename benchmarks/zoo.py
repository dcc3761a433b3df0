"""The model zoo: real architectures, four rewrites each, every one validated.

    python -m benchmarks.zoo [--models a,b] [--markdown docs/zoo.md]

Used by tests/test_zoo.py (which asserts every rewrite validates) and to write the
table in docs/zoo.md (each rewrite's result and output drift).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from rewrite.progress import Progress

REWRITES = {
    "identity": "Layer[name = \"no such layer\"].trainable := false",
    "activation swap": "(Dense | BaseConv | Activation)[activation in [relu, swish, gelu]].activation := tanh\n"
    "replace ReLU with Activation(tanh)",
    "delete Dropout": "rule r {\n delete Dropout\n expect outputs equal atol=1e-5\n}",
    "fold batchnorm": "replace c:(Conv2D | DepthwiseConv2D | Dense) -> bn:BatchNormalization with fold_batchnorm",
}


def _app(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import keras

        return getattr(keras.applications, name)(weights=None)

    return build


def _lstm() -> Any:
    import keras

    x = keras.Input((12,), dtype="int32")
    h = keras.layers.Embedding(50, 16, name="emb")(x)
    h = keras.layers.LSTM(16, name="lstm")(h)
    h = keras.layers.Dropout(0.2, name="drop")(h)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax", name="out")(h), name="embedding_lstm")


def _bigru() -> Any:
    import keras

    x = keras.Input((12,), dtype="int32")
    h = keras.layers.Embedding(50, 16, name="emb")(x)
    h = keras.layers.Bidirectional(keras.layers.GRU(8, name="gru"), name="bi")(h)
    return keras.Model(x, keras.layers.Dense(2, activation="relu", name="out")(h), name="bidirectional_gru")


def _transformer() -> Any:
    import keras

    x = keras.Input((10, 16))
    a = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, dropout=0.1, name="mha")(x, x)
    h = keras.layers.LayerNormalization(name="ln1")(keras.layers.Add(name="res1")([x, a]))
    f = keras.layers.Dense(32, activation="relu", name="ff1")(h)
    f = keras.layers.Dropout(0.1, name="ff_drop")(f)
    f = keras.layers.Dense(16, name="ff2")(f)
    h = keras.layers.LayerNormalization(name="ln2")(keras.layers.Add(name="res2")([h, f]))
    out = keras.layers.Dense(4, activation="softmax", name="out")(keras.layers.GlobalAveragePooling1D(name="pool")(h))
    return keras.Model(x, out, name="transformer_block")


MODELS: dict[str, Callable[[], Any]] = {
    "ResNet50": _app("ResNet50"),
    "MobileNetV2": _app("MobileNetV2"),
    "MobileNetV3Small": _app("MobileNetV3Small"),
    "EfficientNetB0": _app("EfficientNetB0"),
    "DenseNet121": _app("DenseNet121"),
    "InceptionV3": _app("InceptionV3"),
    "Xception": _app("Xception"),
    "NASNetMobile": _app("NASNetMobile"),
    "ConvNeXtTiny": _app("ConvNeXtTiny"),
    "VGG16": _app("VGG16"),
    "Embedding+LSTM": _lstm,
    "Bidirectional GRU": _bigru,
    "Transformer block": _transformer,
}


def run_model(name: str, bar: Progress | None = None) -> list[dict[str, Any]]:
    """Every rewrite on one model: matched layers, validation, drift, time."""
    import rewrite

    if bar is not None:
        bar.step(f"{name}: building")
    model = MODELS[name]()
    rows = []
    for label, text in REWRITES.items():
        if bar is not None:
            bar.step(f"{name}: {label}")
        start = time.perf_counter()
        plan = rewrite.plan(model, text)
        matched = sum(len(s.matches) for s in plan.statements)
        row: dict[str, Any] = {"model": name, "rewrite": label, "matched": matched}
        if matched == 0 and label != "identity":
            row.update(result="not present", drift=None, seconds=time.perf_counter() - start)
            rows.append(row)
            continue
        try:
            result = rewrite.apply(model, text)
            worst = max((d.max_abs for d in result.report.drift), default=0.0)
            row.update(result="validated" if result.report.passed else "FAILED", drift=worst)
        except rewrite.RewriteError as exc:
            row.update(result=f"FAILED: {str(exc).splitlines()[0][:120]}", drift=None)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | rewrite | layers matched | result | max output drift | seconds |",
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        drift = "-" if r["drift"] is None else f"{r['drift']:.3g}"
        lines.append(f"| {r['model']} | {r['rewrite']} | {r['matched']} | {r['result']} | {drift} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zoo")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--markdown", help="write the table into this file")
    args = parser.parse_args(argv)
    rows = []
    names = args.models.split(",")
    with Progress("zoo", total=len(names) * (1 + len(REWRITES))) as bar:  # drawn at a terminal only
        for name in names:
            rows += run_model(name, bar)
            bar.print(markdown([r for r in rows if r["model"] == name]).split("\n", 2)[-1])
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(markdown(rows) + "\n")
    return 0 if all(r["result"] in ("validated", "not present") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
