"""Generate rewrite/lang/catalog.json from the installed Keras (imports Keras; dev tool).

Run `python -m rewrite._catalog_gen` after upgrading Keras; a test fails when the
shipped catalogue no longer matches the installed Keras.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

# Kinds of values a field takes, for fields whose default does not tell.
KIND_BY_NAME = {
    "units": "positive_int",
    "filters": "positive_int",
    "num_heads": "positive_int",
    "key_dim": "positive_int",
    "value_dim": "positive_int",
    "input_dim": "positive_int",
    "output_dim": "positive_int",
    "depth_multiplier": "positive_int",
    "groups": "positive_int",
    "activation": "activation",
    "recurrent_activation": "activation",
    "rate": "unit_float",
    "dropout": "unit_float",
    "recurrent_dropout": "unit_float",
    "momentum": "number",
    "epsilon": "number",
    "stddev": "number",
    "kernel_size": "int_or_tuple",
    "strides": "int_or_tuple",
    "pool_size": "int_or_tuple",
    "dilation_rate": "int_or_tuple",
    "padding": "padding",
    "name": "str",
    "trainable": "bool",
    "use_bias": "bool",
}

BASE_FIELDS = {"name": "str", "trainable": "bool", "dtype": "dtype", "activity_regularizer": "any"}


def _kind(name: str, param: inspect.Parameter) -> str:
    if name in KIND_BY_NAME:
        return KIND_BY_NAME[name]
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return "any"
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "str"
    return "any"


def _sample_args(cls: type) -> dict[str, Any] | None:
    """Values for the required constructor arguments, so the class can be instantiated."""
    import keras

    samples: dict[str, Any] = {
        "units": 2, "filters": 2, "kernel_size": 1, "rate": 0.1, "num_heads": 1, "key_dim": 2,
        "input_dim": 2, "output_dim": 2, "activation": "relu", "pool_size": 2, "size": 2,
        "dims": (1,), "target_shape": (1,), "n": 2, "axis": -1, "cropping": 1, "padding": 1,
        "stddev": 0.1, "num_tokens": 2, "num_bins": 2, "bin_boundaries": [0.0], "max_tokens": 4,
        "height": 2, "width": 2, "factor": 0.1, "height_factor": 0.1, "mode": "horizontal",
        "scale": 1.0, "equation": "ab,bc->ac", "output_shape": (2,), "function": "relu",
        "vocabulary": ["a"], "order": 2, "layer": keras.layers.Dense(1), "cell": keras.layers.SimpleRNNCell(1),
        "value_range": (0, 1), "hashing_size": 2, "features": 2,
    }
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    args = {}
    for name, param in sig.parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty:
            if name not in samples:
                return None
            args[name] = samples[name]
    return args


def _config_keys(cls: type) -> set[str]:
    """get_config() keys of an instance, where one can be made with sample arguments."""
    args = _sample_args(cls)
    if args is None:
        return set()
    try:
        return set(cls(**args).get_config())
    except Exception:  # some layers need more than a sample can give; their signature still counts
        return set()


def _fields(cls: type) -> dict[str, str]:
    fields = dict(BASE_FIELDS)
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass.__module__.split(".")[0] not in ("keras",):
            continue
        try:
            sig = inspect.signature(init)
        except (TypeError, ValueError):
            continue
        if klass is not cls and klass.__name__ not in ("Conv", "BaseConv", "BaseDepthwiseConv", "BaseSeparableConv", "BasePooling", "BaseGlobalPooling", "RNN"):
            continue
        for name, param in sig.parameters.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            fields[name] = _kind(name, param)
    for key in _config_keys(cls):
        fields.setdefault(key, KIND_BY_NAME.get(key, "any"))
    return dict(sorted(fields.items()))


def _portable(klass: type) -> bool:
    """Bases that are part of Keras itself, not of one backend or of the trainer."""
    module = klass.__module__
    return module.startswith("keras") and not module.startswith(
        ("keras.src.backend", "keras.src.trainers", "keras.src.saving")
    )


def generate() -> dict[str, Any]:
    import keras

    classes: dict[str, Any] = {}
    from keras.src.models.functional import Functional

    sources = [("keras.layers", keras.layers), ("keras.models", keras.models)]
    for module_name, module in sources:
        names = sorted(dir(module)) + (["Functional"] if module is keras.models else [])
        for attr in names:
            obj = Functional if attr == "Functional" else getattr(module, attr)
            if not inspect.isclass(obj) or not issubclass(obj, keras.layers.Layer):
                continue
            if attr != obj.__name__:
                continue  # an alias of a class listed under its own name
            bases = [k.__name__ for k in obj.__mro__ if _portable(k)]
            classes[attr] = {"module": module_name, "bases": bases, "fields": _fields(obj)}
    from keras.src.activations import ALL_OBJECTS_DICT

    activations = sorted(k for k, v in ALL_OBJECTS_DICT.items() if callable(v))
    return {"keras_version": keras.__version__, "classes": classes, "activations": activations}


def main(argv: list[str]) -> int:
    target = Path(__file__).with_name("lang") / "catalog.json"
    data = generate()
    target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target} ({len(data['classes'])} classes, Keras {data['keras_version']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
