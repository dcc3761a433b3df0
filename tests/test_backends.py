"""The package runs on any Keras backend: no TensorFlow calls, no shared buffers.

The suite runs on TensorFlow (`make test`) and on JAX (`make test-jax`); see
docs/backends.md for what runs where.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import rewrite
from rewrite.errors import PlanError
from tests.conftest import to_numpy, weights_of

ROOT = Path(__file__).resolve().parent.parent

# Modules that may name TensorFlow, and why. Each is imported only when the backend is TensorFlow.
TENSORFLOW_ONLY: dict[str, str] = {
    "_tf_storage.py": "frees a variable's storage for consume=True; Keras has no call for it (JAX deletes its arrays)",
}


def _imports_by_name(node: ast.AST, module: str) -> bool:
    """`importlib.import_module("tensorflow...")` and the like."""
    if not isinstance(node, ast.Call) or getattr(node.func, "attr", getattr(node.func, "id", "")) != "import_module":
        return False
    first = node.args[0] if node.args else None
    return isinstance(first, ast.Constant) and str(first.value).split(".")[0] == module


def _tensorflow_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if a.name.split(".")[0] == "tensorflow"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tensorflow":
            found.append(f"{path.name}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tf":
            found.append(f"{path.name}:{node.lineno} tf.{node.attr}")
        elif _imports_by_name(node, "tensorflow"):
            found.append(f"{path.name}:{node.lineno} import_module('tensorflow...')")
    return found


def test_package_uses_keras_apis_only():
    uses = {}
    for path in sorted((ROOT / "rewrite").glob("*.py")):
        if path.name in TENSORFLOW_ONLY:
            continue
        found = _tensorflow_uses(path)
        if found:
            uses[path.name] = found
    assert uses == {}, f"TensorFlow used outside a TensorFlow-only module: {uses}"


def test_training_the_rewritten_model_leaves_the_original_intact(head_model, probe):
    # A JAX trainer donates its variables' arrays to the compiled step, which deletes
    # them; a rewritten variable that shared the original's array would take the
    # original's weights with it.
    before = weights_of(head_model)
    expected = to_numpy(head_model(probe, training=False))
    result = rewrite.apply(head_model, 'Dense[name ~ "fc*"].activation := tanh', validate="config")
    new = result.model
    new.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    new.fit(probe, rng.integers(0, 3, len(probe)), epochs=2, verbose=0)

    after = weights_of(head_model)
    assert after.keys() == before.keys()
    for path, value in before.items():
        np.testing.assert_array_equal(after[path], value, err_msg=path)
    np.testing.assert_array_equal(to_numpy(head_model(probe, training=False)), expected)
    # Training moved the new model's kernels away from the shared starting point.
    moved = weights_of(new)
    assert not np.array_equal(moved["fc1/kernel"], before["fc1/kernel"])
    # A second rewrite of the original still reads its weights.
    again = rewrite.apply(head_model, 'Dropout.rate := 0.1')
    assert again.report.passed
    np.testing.assert_array_equal(weights_of(again.model)["fc2/kernel"], before["fc2/kernel"])


def test_a_dotted_layer_name_works_or_is_refused_by_name(head_model, keras):
    text = 'Dense[name = "fc1"].name := "fc.1"'
    if keras.backend.backend() == "torch":
        with pytest.raises(PlanError, match=r"cannot contain `\.` on the torch backend .*`fc\.1`"):
            rewrite.apply(head_model, text)
        return
    result = rewrite.apply(head_model, text)
    assert result.report.passed
    assert result.model.get_layer("fc.1").units == 16


def test_a_64_bit_dtype_rule_warns_where_the_backend_narrows_it(keras):
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, name="fc")(x))
    result = rewrite.apply(model, 'Dense[name = "fc"].dtype := "float64"')
    held = np.asarray(result.model.get_layer("fc").kernel.numpy()).dtype
    warned = [w for w in result.report.statements[0].warnings if "64-bit dtypes hold 32-bit values" in w]
    if keras.backend.backend() == "jax" and not __import__("jax").config.jax_enable_x64:
        assert held == np.float32 and len(warned) == 1 and warned[0].startswith("fc: on JAX")
    else:  # TensorFlow and PyTorch hold what the rule asks, and nothing is said
        assert held == np.float64 and warned == []
