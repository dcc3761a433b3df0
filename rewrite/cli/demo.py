"""The main job on a built-in model: `keras-rewrite demo` and `make demo`."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from rewrite.cli.options import coloured
from rewrite.cli.outcome import FAILED, OK, print_document
from rewrite.lang.resources import package_path
from rewrite.ruleset import load
from rewrite.validation.outputs import compute
from rewrite.validation.probe import make_probe

DEMO_RULES = "tanh-head.rw"


def demo_rules_path() -> Path:
    """The bundled demo rule file (package data, or the source checkout's rules/)."""
    return package_path("rewrite.rules", "rules", DEMO_RULES)


def build_demo_model() -> Any:
    """A small functional CNN with a dense head (random weights, compiled)."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(32, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(0.3, name="drop")(x)
    x = keras.layers.Dense(32, activation="relu", name="fc2")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="fc_out")(x)
    model = keras.Model(inputs, outputs, name="demo_cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run_demo(out_dir: str | None = None, as_json: bool = False, echo: Any = print) -> dict[str, Any]:
    """Build the demo model, apply the bundled rules, save, reload and compare."""
    import keras
    import numpy as np

    rules_path = demo_rules_path()
    model = build_demo_model()
    rules = load(rules_path)
    if not as_json:
        echo(f"model: {model.name}, {len(model.layers)} layers, {model.count_params():,} parameters")
        echo(f"rules: {rules_path}")
        echo("")
    result = rules.apply(model)
    if not as_json:
        echo(result.report.render())
    target_dir = out_dir or tempfile.mkdtemp(prefix="keras-rewrite-demo-")
    target = os.path.join(target_dir, "demo_rewritten.keras")
    result.save(target)
    reloaded = keras.saving.load_model(target)
    x = make_probe(model)
    diff = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(compute(result.model, x).outputs.values(), compute(reloaded, x).outputs.values())
    )
    summary = {"saved": target, "reloaded_max_diff": diff, "validation_passed": result.report.passed}
    if as_json:
        summary["report"] = result.report.to_dict()
    else:
        echo("")
        echo(f"saved {target}; reloaded it: outputs match the rewritten model (max diff {diff:.3g})")
    return summary


def cmd_demo(args: argparse.Namespace) -> int:

    as_json = args.format == "json"
    summary = run_demo(args.out_dir, as_json=as_json, echo=(lambda _: None) if as_json else (lambda text: print(coloured(text))))
    code = OK if summary["validation_passed"] else FAILED
    if as_json:
        report = summary.pop("report")
        return print_document("demo", "ok" if code == OK else "failed", code, {**report, **summary})
    return code
