"""Validation of a rewritten model: the five checks of the design.

1. well formed: unique layer names per model, unique variable paths;
2. config round trip (get_config -> from_config, safe mode);
3. .keras save and load (safe mode, the user's custom objects) computes the same
   outputs and logits as the in-memory model on a deterministic probe batch;
4. every kept weight equals its source bit for bit;
5. drift: original vs rewritten outputs and logits; `expect outputs equal|changed`.

Logits are the values before a final softmax or sigmoid: a random-init softmax
squeezes every difference towards 1/N, so outputs alone can hide a change.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import numpy as np

from rewrite import _keras_private as kp
from rewrite import ast
from rewrite.catalog import canonical_activation
from rewrite.errors import ValidationFailure
from rewrite.graphview import GraphView, build_view
from rewrite.report import CheckResult, Drift

SQUASHING = {"softmax", "sigmoid", "log_softmax"}
SAVE_LOAD_ATOL = 1e-6
CHANGED_RTOL = 1e-3


# ------------------------------------------------------------------ probe data


def graph_model(model: Any) -> Any:
    """The Functional that holds a model's graph (a built Sequential keeps one)."""
    if isinstance(model, keras.Sequential):
        functional = kp.sequential_functional(model)
        if functional is None:
            raise ValueError(
                f"the Sequential model `{model.name}` has no input shape, so there is nothing to probe; "
                "start it with keras.Input(...), call it once, or pass probe= (or validate='config')"
            )
        return functional
    return model


def require_runnable(model: Any) -> None:
    """Refuse, before any work, a model that this Keras backend cannot run on a batch.

    Keras feeds string tensors to a model only on TensorFlow: on JAX or PyTorch a
    model with a string input (TextVectorization, StringLookup inside the model)
    cannot be called at all, so there are no outputs to compare.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    strings = [t for t in keras.tree.flatten(graph_model(model).input) if str(t.dtype) == "string"]
    if strings:
        names = ", ".join(f"`{t.name}`" for t in strings)
        raise ValidationFailure(
            f"model `{model.name}` takes string input {names}, and Keras runs a model on strings only on "
            f"the TensorFlow backend (this process uses {backend}), so its outputs cannot be compared; "
            "pass validate='config' (CLI: --validate config) to check the config and the weights without "
            "running the model, or run under KERAS_BACKEND=tensorflow"
        )


def make_probe(model: Any, view: GraphView | None = None, batch: int = 4, seed: int = 0) -> Any:
    """A deterministic input batch shaped like the model's inputs.

    Integer inputs that feed an Embedding stay inside its vocabulary; string inputs
    that feed a lookup layer draw from its vocabulary; inputs that feed a Rescaling
    layer (pixels scaled by 1/255) draw from the range it expects.
    """
    rng = np.random.default_rng(seed)
    consumers = _input_consumers(model, view)

    def one(tensor: Any) -> Any:
        shape = tuple(batch if i == 0 and d is None else (d or _free_size(tensor.shape)) for i, d in enumerate(tensor.shape))
        dtype = str(tensor.dtype)
        layer = consumers.get(id(tensor))
        if "int" in dtype:
            high = int(layer.input_dim) if layer is not None and hasattr(layer, "input_dim") else 2
            return rng.integers(0, high, size=shape).astype(dtype)
        if dtype == "string":
            vocab = [v for v in layer.get_vocabulary() if v] if layer is not None and hasattr(layer, "get_vocabulary") else []
            vocab = vocab or ["a", "b"]
            return np.array(rng.choice(vocab, size=shape)).astype(object)
        if dtype == "bool":
            return rng.integers(0, 2, size=shape).astype(bool)
        if isinstance(layer, keras.layers.Rescaling) and isinstance(layer.scale, (int, float)) and layer.scale:
            # Pixel-valued inputs (e.g. scaled by 1/255): draw from that range, or every
            # activation downstream is tiny and hides what a rewrite changed. With an
            # offset (x / 127.5 - 1) the pixels span twice the step: [-1, 1] after scaling.
            span = (2.0 if isinstance(layer.offset, (int, float)) and layer.offset else 1.0) / abs(float(layer.scale))
            return rng.uniform(0, span, size=shape).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)

    return keras.tree.map_structure(one, graph_model(model).input)


def _free_size(shape: tuple) -> int:
    """The length a probe gives an unspecified (None) dimension of an input.

    Sequences get 8 steps. Images and volumes (rank 4 and up) get 64 pixels a side:
    a network that halves its resolution five times still has a whole pixel left,
    and a kernel never runs over an input smaller than itself (TensorFlow's CPU
    kernels then return uninitialised memory instead of raising).
    """
    return 64 if len(shape) >= 4 else 8


def _input_consumers(model: Any, view: GraphView | None) -> dict[int, Any]:
    """id(model input tensor) -> the first layer that reads it (Embedding, lookups)."""
    out: dict[int, Any] = {}
    if view is None:
        view = build_view(model)
    inputs = {}
    for t in keras.tree.flatten(graph_model(model).input):
        history = kp.tensor_history(t)
        if history is not None:
            inputs[id(history[0])] = t
    g = view.graph
    for nid, data in g.nodes(data=True):
        if data["kind"] != "input" or data["parent"] or id(data["layer"]) not in inputs:
            continue
        frontier = [nid]
        for _ in range(3):  # a cast or a nested model may sit in between
            nxt = []
            for n in frontier:
                for succ in g.successors(n):
                    layer = g.nodes[succ]["layer"]
                    if hasattr(layer, "input_dim") or hasattr(layer, "get_vocabulary") or isinstance(layer, keras.layers.Rescaling):
                        out.setdefault(id(inputs[id(data["layer"])]), layer)
                    nxt.append(succ)
            frontier = nxt
    return out


# ------------------------------------------------------------------ outputs


@dataclass
class Outputs:
    """Named final outputs and logits of one model on the probe batch."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    logits: dict[str, np.ndarray] = field(default_factory=dict)


def _output_names(model: Any) -> list[str]:
    struct = kp.output_structure(model)
    if isinstance(struct, dict):
        return ["/".join(str(p) for p in path) for path, _ in keras.tree.flatten_with_path(struct)]
    names = []
    for t in keras.tree.flatten(model.outputs):
        history = kp.tensor_history(t)
        if history is None:
            names.append("output")
            continue
        op, _, index = history
        names.append(op.name if index == 0 else f"{op.name}:{index}")
    return names


def _to_numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def compute(model: Any, x: Any) -> Outputs:
    """Outputs and logits of `model` on `x` (inference mode)."""
    model = graph_model(model)
    flat_outputs = keras.tree.flatten(model.outputs)
    names = _output_names(model)
    taps: list[Any] = []
    linear_twins: list[Any] = []
    for t in flat_outputs:
        history = kp.tensor_history(t)
        op = history[0] if history else None
        tap, twin = None, None
        if isinstance(op, keras.layers.Layer) and not isinstance(op, keras.Model):
            inputs = kp.producer_inputs(t)
            act = canonical_activation(op.get_config().get("activation")) if hasattr(op, "activation") else None
            if isinstance(op, (keras.layers.Activation, keras.layers.Softmax)) and (
                isinstance(op, keras.layers.Softmax) or act in SQUASHING
            ):
                tap = inputs[0]
            elif act in SQUASHING and len(inputs) == 1:
                tap, twin = inputs[0], op
        taps.append(tap)
        linear_twins.append(twin)
    real_taps = [t for t in taps if t is not None]
    if real_taps:
        tap_model = keras.Model(model.input, list(flat_outputs) + real_taps)
        values = tap_model(x, training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
    else:
        values = model(x, training=False)
        values = keras.tree.flatten(values)
    values = [_to_numpy(v) for v in values]
    result = Outputs()
    for name, v in zip(names, values[: len(flat_outputs)]):
        result.outputs[name] = v
    tapped = iter(values[len(flat_outputs) :])
    for name, tap, twin, out in zip(names, taps, linear_twins, values):
        if tap is None:
            result.logits[name] = out
            continue
        pre = next(tapped)
        if twin is not None:
            pre = _pre_activation(twin, pre)
        result.logits[name] = pre
    return result


def _pre_activation(layer: Any, x: np.ndarray) -> np.ndarray:
    """`layer` applied to `x` with its activation replaced by linear (a twin; `layer` is untouched)."""
    config = dict(layer.get_config(), activation="linear")
    twin = type(layer).from_config(config)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    return _to_numpy(twin(x))


def _max_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if a.shape != b.shape:
        return float("inf"), float("inf")
    if a.dtype.kind not in "fiub":
        same = bool(np.all(a == b))
        return (0.0, 0.0) if same else (float("inf"), float("inf"))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = float(np.max(np.abs(a64 - b64))) if a.size else 0.0
    scale = float(np.max(np.abs(a64))) if a.size else 0.0
    return diff, diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def drift(before: Outputs, after: Outputs) -> list[Drift]:
    out = []
    pairs: tuple[tuple[Literal["output", "logits"], dict, dict], ...] = (
        ("output", before.outputs, after.outputs),
        ("logits", before.logits, after.logits),
    )
    for kind, left, right in pairs:
        for name, a in left.items():
            b = right.get(name)
            if b is None and len(left) == len(right) == 1:
                b = next(iter(right.values()))
            if b is None:
                continue
            if kind == "logits" and name in before.outputs and before.outputs[name] is a and after.outputs.get(name) is b:
                continue  # no softmax in front: the logits are the outputs
            abs_, rel = _max_diff(a, b)
            out.append(Drift(output=name, kind=kind, max_abs=abs_, max_rel=rel))
    return out


# ------------------------------------------------------------------ checks


def check_probe(before: Outputs) -> CheckResult:
    """The original model's outputs on the probe must be finite, or no comparison means anything."""
    bad = [
        name
        for kind in (before.outputs, before.logits)
        for name, value in kind.items()
        if value.dtype.kind == "f" and not np.all(np.isfinite(value))
    ]
    if bad:
        return CheckResult(
            name="probe",
            status="failed",
            detail=(
                f"the original model's output `{bad[0]}` is not finite (inf or nan) on the probe batch, "
                "so no output comparison can be trusted; pass inputs the model is meant for "
                "(probe=..., CLI --probe DATA.npz), or validate='config'"
            ),
        )
    return CheckResult(name="probe", status="passed", detail="the original model's outputs are finite on the probe batch")


def check_well_formed(model: Any) -> CheckResult:
    problems = []
    stack = [model]
    while stack:
        m = stack.pop()
        names = Counter(layer.name for layer in m.layers)
        problems += [f"layer name `{n}` appears {c} times in `{m.name}`" for n, c in names.items() if c > 1]
        stack += [layer for layer in m.layers if isinstance(layer, keras.Model)]
    paths = Counter(v.path for v in model.weights)
    problems += [f"variable path `{p}` appears {c} times" for p, c in paths.items() if c > 1]
    if problems:
        return CheckResult(name="well formed", status="failed", detail="; ".join(problems[:5]))
    return CheckResult(name="well formed", status="passed", detail=f"{len(model.weights)} variables, unique names and paths")


@dataclass
class ConfigMemo:
    """What earlier variants of one base model already proved to round-trip."""

    structures: set[str] = field(default_factory=set)
    """Model configs with every layer's own config blanked out: the graph's shape."""
    layers: set[str] = field(default_factory=set)
    """Serialized layer entries (config and build config) that rebuilt to the same weights."""


def _weight_shapes(layers: dict[str, Any], name: str) -> list[tuple]:
    """Weight shapes of layer `name`; none for a layer the model does not list
    (a Sequential's config names its InputLayer, which `model.layers` leaves out)."""
    layer = layers.get(name)
    return [] if layer is None else [tuple(v.shape) for v in layer.weights]


def _config_parts(config: dict, model: Any) -> tuple[str, dict[str, tuple[str, dict]]] | None:
    """(structure key, {layer name: (entry key, entry)}) of a serialized model, or None if it has no layer list.

    An entry's key holds the weight shapes of the layer it came from, so a config
    that leaves a size out cannot pass for one that was checked at another size.
    """
    layers = config.get("config", {}).get("layers") if isinstance(config.get("config"), dict) else None
    if not isinstance(layers, list):
        return None
    by_name = {layer.name: layer for layer in model.layers}
    entries = {}
    blank = []
    for entry in layers:
        name = str(entry.get("name") or entry.get("config", {}).get("name"))
        shapes = _weight_shapes(by_name, name)
        entries[name] = (json.dumps([entry, shapes], sort_keys=True, default=repr), entry)
        blank.append({k: v for k, v in entry.items() if k not in ("config", "build_config", "compile_config")})
    shell = {**config, "config": {**config["config"], "layers": blank}}
    return json.dumps(shell, sort_keys=True, default=repr), entries


def check_config_round_trip(
    model: Any, custom_objects: dict | None, safe_mode: bool, memo: ConfigMemo | None = None
) -> CheckResult:
    """get_config -> from_config must rebuild the same weights.

    With a memo (the variants of one base model), a graph whose shape an earlier
    variant already round-tripped whole is checked layer by layer: only the layers
    whose serialized entry is new are rebuilt (from_config, then build_from_config)
    and their weight shapes compared.
    """
    try:
        config = keras.saving.serialize_keras_object(model)
        parts = _config_parts(config, model) if memo is not None else None
        if memo is not None and parts is not None and parts[0] in memo.structures:
            return _layers_round_trip(model, parts[1], custom_objects, safe_mode, memo)
        rebuilt = keras.saving.deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
    except Exception as exc:
        return CheckResult(name="config round trip", status="failed", detail=_load_advice(exc))
    shapes = [tuple(v.shape) for v in model.weights]
    rebuilt_shapes = [tuple(v.shape) for v in rebuilt.weights]
    if shapes != rebuilt_shapes:
        return CheckResult(name="config round trip", status="failed", detail="from_config builds different weight shapes")
    if memo is not None and parts is not None:
        memo.structures.add(parts[0])
        memo.layers.update(key for key, _ in parts[1].values())
    return CheckResult(name="config round trip", status="passed", detail="get_config -> from_config (safe mode)")


def _layers_round_trip(
    model: Any, entries: dict[str, tuple[str, dict]], custom_objects: dict | None, safe_mode: bool, memo: ConfigMemo
) -> CheckResult:
    fresh = [(name, key, entry) for name, (key, entry) in entries.items() if key not in memo.layers]
    by_name = {layer.name: layer for layer in model.layers}
    for name, _, entry in fresh:
        layer = keras.saving.deserialize_keras_object(entry, custom_objects=custom_objects, safe_mode=safe_mode)
        if entry.get("build_config") and not layer.built:
            layer.build_from_config(entry["build_config"])
        want = _weight_shapes(by_name, name)
        if [tuple(v.shape) for v in layer.weights] != want:
            return CheckResult(
                name="config round trip", status="failed", detail=f"from_config of layer `{name}` builds different weight shapes"
            )
    memo.layers.update(key for _, key, _ in fresh)
    return CheckResult(
        name="config round trip",
        status="passed",
        detail=f"get_config -> from_config (safe mode): {len(fresh)} new layer config(s) rebuilt; the graph as for an earlier variant",
    )


def _load_advice(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    chain = text
    cause: BaseException | None = exc
    while cause is not None:
        chain += f" {cause}"
        cause = cause.__cause__ or cause.__context__
    if "Lambda" in chain or "lambda" in chain:
        return (
            f"{text}. The model has a Lambda layer, which safe mode refuses to load; pass safe_mode=False "
            "(CLI: --unsafe) if you trust this model"
        )
    if any(k in chain for k in ("Could not locate class", "Unknown layer", "could not be deserialized")):
        return (
            f"{text}. Register the custom class with @keras.saving.register_keras_serializable() "
            "or pass it in custom_objects (CLI: --custom-objects module:dict)"
        )
    return text


def check_save_load(model: Any, x: Any, expected: Outputs, custom_objects: dict | None, safe_mode: bool) -> tuple[CheckResult, CheckResult]:
    """(.keras save/load check, config round-trip check implied by the load)."""
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-") as tmp:
        path = os.path.join(tmp, "validate.keras")
        try:
            model.save(path)
            loaded = keras.saving.load_model(path, custom_objects=custom_objects, safe_mode=safe_mode, compile=False)
        except Exception as exc:
            detail = _load_advice(exc)
            return (
                CheckResult(name="save/load .keras", status="failed", detail=detail),
                CheckResult(name="config round trip", status="failed", detail=detail),
            )
    got = compute(loaded, x)
    worst = 0.0
    for kind, left, right in (("outputs", expected.outputs, got.outputs), ("logits", expected.logits, got.logits)):
        for name, a in left.items():
            b = right.get(name)
            if b is None:
                return (
                    CheckResult(name="save/load .keras", status="failed", detail=f"reloaded model lacks {kind} `{name}`"),
                    CheckResult(name="config round trip", status="passed", detail="implied by the .keras load"),
                )
            worst = max(worst, _max_diff(a, b)[0])
    round_trip = CheckResult(name="config round trip", status="passed", detail="get_config -> from_config, through the .keras load (safe mode)" if safe_mode else "through the .keras load (safe mode off)")
    if worst > SAVE_LOAD_ATOL:
        return CheckResult(name="save/load .keras", status="failed", detail=f"reloaded model differs from memory by {worst:.3g}"), round_trip
    return CheckResult(name="save/load .keras", status="passed", detail=f"reloaded outputs and logits match (max diff {worst:.3g})"), round_trip


def _same_bits(a: Any, b: Any) -> bool:
    """True if variable `b` holds exactly `a`'s value: the same bytes, or, where a
    dtype rule made `b` another dtype, `a`'s value cast to it."""
    x, y = a.numpy(), b.numpy()
    if x.shape != y.shape:
        return False
    if x.dtype == y.dtype:
        return bool(np.array_equal(x.reshape(-1).view(np.uint8), y.reshape(-1).view(np.uint8)))
    return bool(np.array_equal(x.astype(y.dtype), y, equal_nan=y.dtype.kind in "fc"))


def check_kept_weights(kept: Sequence[tuple[str, Any, Any]]) -> CheckResult:
    # On the host, one variable at a time: a byte compare there is cheaper than two
    # backend ops per variable (a third less per MobileNetV2 variant, 262 variables).
    bad = [label for label, a, b in kept if not _same_bits(a, b)]
    if bad:
        return CheckResult(name="kept weights", status="failed", detail=f"differ from their source: {', '.join(bad[:5])}")
    return CheckResult(name="kept weights", status="passed", detail=f"{len(kept)} variables equal their source bit for bit")


def check_accounting(model: Any, kept: Sequence[tuple[str, Any, Any]], actions: Sequence[Any]) -> CheckResult:
    """Every variable of the new model is a kept copy or a reported action (nothing left at random)."""
    kept_ids = {id(b) for _, _, b in kept}
    reported = {(a.layer.split("/")[-1], a.weight.split("/")[-1]) for a in actions}
    missing = []
    stack = [model]
    while stack:
        m = stack.pop()
        for layer in m.layers:
            if isinstance(layer, keras.Model):
                stack.append(layer)
                continue
            for v in layer.weights:
                if id(v) not in kept_ids and (layer.name, v.name) not in reported and not _reported_inside(layer, v, reported):
                    missing.append(f"{layer.name}/{v.name}")
    if missing:
        return CheckResult(
            name="weight accounting",
            status="failed",
            detail=f"neither copied nor reported: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
        )
    return CheckResult(name="weight accounting", status="passed", detail=f"{len(kept)} copied, {len(actions)} reported")


def _reported_inside(layer: Any, var: Any, reported: set[tuple[str, str]]) -> bool:
    # a wrapper's or composite's variable is reported under its own path inside the layer
    return any(weight == var.path or var.path.endswith(f"{name}/{weight}") for name, weight in reported)


def locate_divergence(original: Any, rewritten: Any, x: Any, atol: float) -> str | None:
    """The first layer (in the original's order) whose output moved by more than atol."""
    a, b = graph_model(original), graph_model(rewritten)
    names = [layer.name for layer in a.layers if not isinstance(layer, keras.layers.InputLayer)]
    other = {layer.name for layer in b.layers}
    names = [n for n in names if n in other]
    try:
        taps_a = keras.Model(a.input, [a.get_layer(n).output for n in names])
        taps_b = keras.Model(b.input, [b.get_layer(n).output for n in names])
        out_a, out_b = taps_a(x, training=False), taps_b(x, training=False)
    except Exception:  # a layer without a single output: no per-layer answer
        return None
    for name, u, v in zip(names, out_a, out_b):
        diff = _max_diff(_to_numpy(u), _to_numpy(v))[0]
        if diff > atol:
            return f"first layer whose output moved: `{name}` (max abs {diff:.3g})"
    return None


def check_expectations(drifts: list[Drift], expects: Sequence[tuple[str, ast.ExpectOutputs]]) -> list[CheckResult]:
    results = []
    for rule_id, expect in expects:
        name = f"expect outputs {expect.outcome} (rule {rule_id})"
        worst = max((d for d in drifts), key=lambda d: d.max_abs, default=None)
        if worst is None:
            results.append(CheckResult(name=name, status="skipped", detail="no outputs to compare"))
            continue
        limit = expect.atol + expect.rtol * (worst.max_abs / worst.max_rel if worst.max_rel else 0.0)
        if expect.outcome == "equal":
            ok = worst.max_abs <= limit
            detail = f"max abs drift {worst.max_abs:.3g} ({worst.kind} `{worst.output}`), atol {expect.atol:g}"
        else:
            # Relative too: a random-init network can have outputs far below atol.
            ok = worst.max_abs > expect.atol or worst.max_rel > CHANGED_RTOL
            detail = f"max abs drift {worst.max_abs:.3g} (relative {worst.max_rel:.3g}), must exceed atol {expect.atol:g} or relative {CHANGED_RTOL:g}"
        results.append(CheckResult(name=name, status="passed" if ok else "failed", detail=detail))
    return results


def evaluate_both(original: Any, rewritten: Any, data: tuple[Any, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Evaluate both models with the compiled loss and metrics on the user's (x, y)."""
    x, y = data
    for m, which in ((original, "original"), (rewritten, "rewritten")):
        if not getattr(m, "compiled", False):
            raise ValueError(f"evaluate=(x, y) needs a compiled model; the {which} model is not compiled. Compile the input model first")
    a = original.evaluate(x, y, verbose=0, return_dict=True)
    b = rewritten.evaluate(x, y, verbose=0, return_dict=True)
    return {k: float(v) for k, v in a.items()}, {k: float(v) for k, v in b.items()}
