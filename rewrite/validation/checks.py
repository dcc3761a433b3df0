"""Validation of a rewritten model: the five checks of the design (the `.keras`
save and reload is in `rewrite.validation.reload`).

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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from rewrite._keras_private import release_variables
from rewrite.lang.expressions import compare
from rewrite.planner.plan import OutputExpectation
from rewrite.report.data import CheckKind, CheckResult, Cost, Drift
from rewrite.validation.outputs import Outputs

SAVE_LOAD_ATOL = 1e-6
CHANGED_RTOL = 1e-3


# ------------------------------------------------------------------ probe data


# ------------------------------------------------------------------ outputs


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
            kind="probe",
            name="probe",
            status="failed",
            detail=(
                f"the original model's output `{bad[0]}` is not finite (inf or nan) on the probe batch, "
                "so no output comparison can be trusted; pass inputs the model is meant for "
                "(probe=..., CLI --probe DATA.npz), or validate='config'"
            ),
        )
    return CheckResult(kind="probe", name="probe", status="passed", detail="the original model's outputs are finite on the probe batch")


def check_finite(before: Outputs, after: Outputs) -> CheckResult:
    """Every output and logit of the rewritten model is finite wherever the original's is."""
    bad = []
    for kind, left, right in (("output", before.outputs, after.outputs), ("logits", before.logits, after.logits)):
        for name, value in right.items():
            if value.dtype.kind != "f":
                continue
            was = left.get(name)
            fresh = ~np.isfinite(value)
            if was is not None and was.shape == value.shape:
                fresh &= np.isfinite(was)
            if fresh.any():
                bad.append(f"{kind} `{name}` has {int(fresh.sum())} non-finite value(s) (nan or inf) of {value.size}")
    if bad:
        return CheckResult(
            kind="finite", name="finite outputs", status="failed",
            detail="; ".join(bad[:3]) + " on the probe batch, where the original's are finite: the rewrite breaks what the model computes",
        )
    return CheckResult(kind="finite", name="finite outputs", status="passed", detail="outputs and logits finite wherever the original's are")


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
        return CheckResult(kind="well-formed", name="well formed", status="failed", detail="; ".join(problems[:5]))
    return CheckResult(kind="well-formed", name="well formed", status="passed", detail=f"{len(model.weights)} variables, unique names and paths")


@dataclass
class ConfigMemo:
    """What earlier variants of one base model already proved to round-trip."""

    structures: set[str] = field(default_factory=set)
    """Model configs with every layer's own config blanked out: the graph's shape."""
    layers: set[str] = field(default_factory=set)
    """Serialized layer entries (config and build config) that rebuilt to the same weights."""


def graph_memo(model: Any) -> ConfigMemo:
    """A memo holding `model`'s graph shape, for a model Keras has just built from its
    config (loaded from a file): its graph is known to deserialize, so the variants
    that keep it have their config checked layer by layer, one layer's weights at a
    time, instead of as a second whole model."""
    parts = _config_parts(keras.saving.serialize_keras_object(model), model)
    return ConfigMemo(structures={parts[0]} if parts is not None else set())


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
    """get_config -> from_config must rebuild the same weights (see `rebuild_from_config`)."""
    return rebuild_from_config(model, custom_objects, safe_mode, memo)[0]


def rebuild_from_config(
    model: Any, custom_objects: dict | None, safe_mode: bool, memo: ConfigMemo | None = None
) -> tuple[CheckResult, Any | None]:
    """get_config -> from_config must rebuild the same weights; the check and the rebuilt model.

    With a memo (the variants of one base model), a graph whose shape an earlier
    variant already round-tripped whole is checked layer by layer: only the layers
    whose serialized entry is new are rebuilt (from_config, then build_from_config)
    and their weight shapes compared.
    """
    try:
        config = keras.saving.serialize_keras_object(model)
        parts = _config_parts(config, model) if memo is not None else None
        if memo is not None and parts is not None and parts[0] in memo.structures:
            return _layers_round_trip(model, parts[1], custom_objects, safe_mode, memo), None
        rebuilt = keras.saving.deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
    except Exception as exc:
        return CheckResult(kind="config-round-trip", name="config round trip", status="failed", detail=load_advice(exc)), None
    shapes = [tuple(v.shape) for v in model.weights]
    rebuilt_shapes = [tuple(v.shape) for v in rebuilt.weights]
    if shapes != rebuilt_shapes:
        failed = CheckResult(kind="config-round-trip", name="config round trip", status="failed", detail="from_config builds different weight shapes")
        return failed, None
    if memo is not None and parts is not None:
        memo.structures.add(parts[0])
        memo.layers.update(key for key, _ in parts[1].values())
    return CheckResult(kind="config-round-trip", name="config round trip", status="passed", detail="get_config -> from_config (safe mode)"), rebuilt


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
        shapes = [tuple(v.shape) for v in layer.weights]
        release_variables(layer)  # now: a Keras layer lives in reference cycles until the collector runs
        if shapes != want:
            return CheckResult(
                kind="config-round-trip", name="config round trip", status="failed", detail=f"from_config of layer `{name}` builds different weight shapes"
            )
    memo.layers.update(key for _, key, _ in fresh)
    return CheckResult(
        kind="config-round-trip", name="config round trip",
        status="passed",
        detail=f"get_config -> from_config (safe mode): {len(fresh)} new layer config(s) rebuilt; the graph as an earlier variant or the loaded model had it",
    )


def load_advice(exc: BaseException) -> str:
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


def _same_bits(a: Any, b: Any) -> bool:
    """True if variable `b` holds exactly `a`'s value: the same bytes, or, where a
    dtype rule made `b` another dtype, `a`'s value cast to it."""
    x, y = a.numpy(), b.numpy()
    if x.shape != y.shape:
        return False
    if x.dtype == y.dtype:
        return _same_bytes(np.ascontiguousarray(x).reshape(-1).view(np.uint8), np.ascontiguousarray(y).reshape(-1).view(np.uint8))
    return bool(np.array_equal(x.astype(y.dtype), y, equal_nan=y.dtype.kind in "fc"))


COMPARE_CHUNK = 1 << 24
"""Bytes compared at a time: a whole 64 MB kernel at once makes a 64 MB array of booleans."""


def _same_bytes(x: np.ndarray, y: np.ndarray) -> bool:
    if x.size != y.size:
        return False
    return all(np.array_equal(x[i : i + COMPARE_CHUNK], y[i : i + COMPARE_CHUNK]) for i in range(0, x.size, COMPARE_CHUNK))


def check_kept_weights(kept: Sequence[tuple[str, Any, Any]]) -> CheckResult:
    # On the host, one variable at a time: a byte compare there is cheaper than two
    # backend ops per variable (a third less per MobileNetV2 variant, 262 variables).
    bad = [label for label, a, b in kept if not _same_bits(a, b)]
    if bad:
        return CheckResult(kind="kept-weights", name="kept weights", status="failed", detail=f"differ from their source: {', '.join(bad[:5])}")
    return CheckResult(kind="kept-weights", name="kept weights", status="passed", detail=f"{len(kept)} variables equal their source bit for bit")


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
            kind="weight-accounting",
            name="weight accounting",
            status="failed",
            detail=f"neither copied nor reported: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
        )
    return CheckResult(kind="weight-accounting", name="weight accounting", status="passed", detail=f"{len(kept)} copied, {len(actions)} reported")


def _reported_inside(layer: Any, var: Any, reported: set[tuple[str, str]]) -> bool:
    # a wrapper's or composite's variable is reported under its own path inside the layer
    return any(weight == var.path or var.path.endswith(f"{name}/{weight}") for name, weight in reported)


def check_expectations(drifts: list[Drift], expects: Sequence[OutputExpectation]) -> list[CheckResult]:
    results = []
    for expectation in expects:
        expect = expectation.expect
        name = f"expect outputs {expect.outcome} (rule {expectation.label})"
        kind: CheckKind = "expect-equal" if expect.outcome == "equal" else "expect-changed"
        worst = max((d for d in drifts), key=lambda d: d.max_abs, default=None)
        if worst is None:
            results.append(CheckResult(kind=kind, name=name, status="skipped", detail="no outputs to compare"))
            continue
        limit = expect.atol + expect.rtol * (worst.max_abs / worst.max_rel if worst.max_rel else 0.0)
        if expect.outcome == "equal":
            ok = worst.max_abs <= limit
            detail = f"max abs drift {worst.max_abs:.3g} ({worst.kind} `{worst.output}`), atol {expect.atol:g}"
        else:
            # Relative too: a random-init network can have outputs far below atol.
            ok = worst.max_abs > expect.atol or worst.max_rel > CHANGED_RTOL
            detail = f"max abs drift {worst.max_abs:.3g} (relative {worst.max_rel:.3g}), must exceed atol {expect.atol:g} or relative {CHANGED_RTOL:g}"
        results.append(CheckResult(kind=kind, name=name, status="passed" if ok else "failed", detail=detail))
    return results




def check_budgets(budgets: Sequence[tuple[Any, str, str]], cost: Cost) -> list[CheckResult]:
    """`expect params|macs CMP N` against the rewritten model's parameter count and multiply-accumulates."""
    results = []
    for expect, rule, _ in budgets:
        value = cost.params_after if expect.measure == "params" else cost.macs_after
        ok = compare(expect.measure, expect.op, value, expect.value)
        results.append(
            CheckResult(
                kind="budget",
                name=f"expect {expect.measure} {expect.op} {expect.value:,} (rule {rule})",
                status="passed" if ok else "failed",
                detail=f"the rewritten model has {value:,} {'parameters' if expect.measure == 'params' else 'multiply-accumulates'}",
            )
        )
    return results
