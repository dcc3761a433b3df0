"""Changes in effect: every planned field change read back on the model, and on a rebuilt one.

A field can be set in a layer's config without reaching what the layer runs:
Keras's constructor sets `trainable` on a layer, not on the sublayers it creates;
a keras-hub backbone saves its own constructor arguments, not its layers. So each
change is read where it counts: the layer's config, and its effect (for
`trainable`, whether its variables train; for an activation, the function the
layer calls). Then the same on the model as Keras rebuilds it from its config, the
way a saved file is loaded: a change that does not come back is lost on reload.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from typing import Any

import keras

from rewrite import _keras_private as keras_private
from rewrite.lang.catalog import canonical_activation
from rewrite.lang.expressions import ACTIVATION_FIELDS, equal, show
from rewrite.report.data import CheckResult, FieldChange

SHOWN = 3
"""How many failures a check's detail names."""


_CHILDREN: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
"""Each built layer's tracked children by name, indexed once: a model of thousands of
changed layers is looked up in linear time, not quadratic."""


def _children(layer: Any) -> dict[str, Any]:
    try:
        found = _CHILDREN.get(layer)
    except TypeError:  # a layer class that is not hashable: indexed each time
        found = None
    if found is None:
        found = {}
        for child in keras_private.sublayers(layer):
            found.setdefault(child.name, child)
        with contextlib.suppress(TypeError):  # not hashable: indexed again next time
            _CHILDREN[layer] = found
    return found


def find_layer(model: Any, path: str) -> Any | None:
    """The layer at a slash path: nested models and tracked sublayers by name, then by attribute."""
    current = model
    for part in path.split("/"):
        found = _children(current).get(part)
        if found is None:
            attribute = getattr(current, part, None)
            found = attribute if isinstance(attribute, keras.layers.Layer) else None
        if found is None:
            return None
        current = found
    return current


def read_back(layer: Any, field: str, value: Any, shallow: bool = False) -> str | None:
    """Why `layer` does not show `field` = `value` (config or effect); None when it does.

    `shallow`: for `trainable`, only the layer's own flag (its sublayers were set apart)."""
    if field == "name":
        return None if layer.name == value else f"its name is `{layer.name}`"
    try:
        config = layer.get_config()
    except Exception:  # a layer without a usable get_config: its attributes still tell
        config = {}
    if field in config and not _config_shows(layer, config, field, value):
        return f"its config says {field}={show(config[field])}"
    if field == "trainable":
        return _trainable_problem(layer, bool(value), shallow)
    if field == "quantization_mode":
        mode = getattr(layer, "quantization_mode", None)
        return None if mode == value else "it is not quantized" if mode is None else f"it is quantized to {mode}"
    if field == "lora_rank":
        rank = getattr(layer, "lora_rank", None) if getattr(layer, "lora_enabled", False) else None
        if (rank or None) != (value or None):
            return "it has no LoRA adapters" if rank is None else f"its LoRA rank is {rank}"
    if field in ACTIVATION_FIELDS and callable(getattr(layer, field, None)):
        running = canonical_activation(getattr(layer, field))
        if running != canonical_activation(value):
            return f"it calls {show(running)}"
    return None


def _config_shows(layer: Any, config: dict[str, Any], field: str, value: Any) -> bool:
    """Whether `config[field]` is what Keras writes for `value`: a rule's `l2` or `float64`
    is a serialized regularizer or dtype policy in a config, so a twin made with it
    says what to expect."""
    if equal(field, config[field], value):
        return True
    try:
        expected = type(layer).from_config({**config, field: value}).get_config().get(field)
    except Exception:  # no twin to ask: the plain comparison above stands
        return False
    return bool(equal(field, config[field], expected))


def _trainable_problem(layer: Any, value: bool, shallow: bool = False) -> str | None:
    if bool(layer.trainable) != value:
        return f"the layer says trainable={layer.trainable}"
    if shallow:
        return None
    if value:
        frozen_by_lora = {id(v) for v in keras_private.lora_frozen(layer)}  # Keras freezes what adapters adapt
        wrong = [v.path for v in keras_private.created_trainable(layer) if not v.trainable and id(v) not in frozen_by_lora]
        state = "not trainable"
    else:
        wrong = [v.path for v in layer.weights if v.trainable]
        state = "still trainable"
    if not wrong:
        return None
    more = " ..." if len(wrong) > 2 else ""
    return f"{len(wrong)} of its variables are {state} ({', '.join(wrong[:2])}{more})"


def final_changes(changes: Sequence[FieldChange]) -> list[tuple[FieldChange, bool]]:
    """The change that stands for each layer and field: the last one made.

    `*.trainable := false` then `query.trainable := true` leaves `query` trainable,
    and its composite layer frozen but for `query`: the composite's change is read
    on the layer's own flag (True: shallow), not on the sublayer a later statement
    set apart.
    """
    last: dict[tuple[str, str], FieldChange] = {}
    for change in changes:
        last.pop((change.layer, change.field), None)
        last[(change.layer, change.field)] = change
    standing = list(last.values())
    later_inner = {
        c.layer for c in standing if c.field == "trainable" and any(
            o.field == "trainable" and c.layer.startswith(f"{o.layer}/") and o.new != c.new for o in standing
        )
    }
    return [(c, c.field == "trainable" and any(i.startswith(f"{c.layer}/") for i in later_inner)) for c in standing]


def check_in_effect(changes: Sequence[FieldChange], model: Any) -> CheckResult | None:
    """Each change read back on the model in memory; None when there is no field change."""
    checked, wrong = 0, []
    for change, shallow in final_changes(changes):
        layer = find_layer(model, change.layer)
        if layer is None:
            continue  # renamed, or replaced by a later statement: nothing to read it on
        checked += 1
        why = read_back(layer, change.field, change.new, shallow)
        if why:
            wrong.append(f"`{change.layer}`.{change.field} := {show(change.new)}: {why}")
    if not checked:
        return None
    if wrong:
        return CheckResult(kind="changes-in-effect", name="changes in effect", status="failed", detail=_joined(wrong))
    return CheckResult(
        kind="changes-in-effect", name="changes in effect", status="passed",
        detail=f"{checked} field change(s) read back on the model: config and effect",
    )


def check_kept(
    changes: Sequence[FieldChange], model: Any, rebuilt: Any, how: str, in_memory: bool
) -> tuple[CheckResult | None, list[str]]:
    """Each change read back on `rebuilt` (the model as Keras rebuilds it: `how`), and
    the variables that train compared; the check and what a save would lose."""
    lost = []
    checked = 0
    for change, shallow in final_changes(changes):
        if find_layer(model, change.layer) is None:
            continue
        checked += 1
        layer = find_layer(rebuilt, change.layer)
        why = f"there is no layer `{change.layer}`" if layer is None else read_back(layer, change.field, change.new, shallow)
        if why:
            lost.append(f"`{change.layer}`.{change.field} := {show(change.new)}: after {how}, {why}{_cause(model, change)}")
    training, retraining = _training_by_layer(model), _training_by_layer(rebuilt)
    changed = {c.layer for c in changes}
    moved = sorted(
        p for p in set(training) | set(retraining)
        if training.get(p, 0) != retraining.get(p, 0) and _touched(p, changed)
    )
    if moved:
        counts = ", ".join(f"`{p}` {training.get(p, 0)} -> {retraining.get(p, 0)}" for p in moved[:SHOWN])
        lost.append(f"after {how}, other variables train than in memory (trainable variables per layer: {counts})")
    if not checked and not lost:
        return None, []
    return _kept_verdict(lost, in_memory, f"{checked} field change(s) and the set of trainable variables read back after {how}")


def _cause(model: Any, change: FieldChange) -> str:
    """Why Keras loses this change when it rebuilds the model, where the model's shape says."""
    owner = _config_owner(model, change.layer)
    if owner is not None:
        name, functional = owner
        remedy = (
            "a rewrite in clone mode rebuilds it as a Functional model whose config carries the change"
            if functional
            else f"give {name} a constructor argument for it, or keep the result in this process"
        )
        if change.field.startswith("lora_") and _saves_lora_apart(model, change.layer):
            remedy = (
                "keep the result in this process (in_memory=True); to keep adapters in a file, keras-hub enables them "
                "with `backbone.enable_lora(rank)` and saves them apart with `backbone.save_lora_weights(path)`"
            )
        return f" ({name} saves only its constructor arguments, not its layers, so this change lives in memory only; {remedy})"
    layer = find_layer(model, change.layer)
    if change.field == "trainable" and layer is not None and keras_private.sublayers(layer):
        return (
            f" (Keras builds `{change.layer}` from its config with trainable={change.new} on the layer itself, but "
            "creates its sublayers' variables trainable; set `trainable` on that layer again after loading)"
        )
    return ""


def _saves_lora_apart(model: Any, path: str) -> bool:
    """Whether a model on the path keeps LoRA weights in a file of their own (keras-hub's Backbone)."""
    parts = path.split("/")
    owners = [model] + [find_layer(model, "/".join(parts[:i])) for i in range(1, len(parts))]
    return any(hasattr(m, "save_lora_weights") for m in owners if m is not None)


def _config_owner(model: Any, path: str) -> tuple[str, bool] | None:
    """The class of the first model on the path whose config is its own constructor's, not a layer graph."""
    current = model
    parts = path.split("/")
    for depth in range(len(parts)):
        if isinstance(current, keras.Model) and not isinstance(current, keras.Sequential):
            functional = keras_private.is_functional(current)
            if not functional or type(current).get_config is not keras_private.Functional.get_config:
                return type(current).__name__, functional
        current = find_layer(current, parts[depth])
        if current is None:
            return None
    return None


def _joined(items: list[str]) -> str:
    more = f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def check_kept_by_layer(changes: Sequence[FieldChange], model: Any, in_memory: bool) -> tuple[CheckResult | None, list[str]]:
    """`check_kept` where no whole rebuilt model is at hand (variants reuse a config memo):
    each changed layer is rebuilt from its own config and build config, as a load does."""
    lost, checked = [], 0
    for change, shallow in final_changes(changes):
        layer = find_layer(model, change.layer)
        if layer is None or isinstance(layer, keras.Model):
            continue
        checked += 1
        try:
            fresh = type(layer).from_config(layer.get_config())
            build_config = layer.get_build_config()
            if build_config and not fresh.built:
                fresh.build_from_config(build_config)
        except Exception as exc:  # the config round trip check names this failure
            lost.append(f"`{change.layer}`: rebuilding it from its config failed ({type(exc).__name__})")
            continue
        why = read_back(fresh, change.field, change.new, shallow)
        if why:
            lost.append(f"`{change.layer}`.{change.field} := {show(change.new)}: rebuilt from its config, {why}{_cause(model, change)}")
    if not checked:
        return None, []
    return _kept_verdict(lost, in_memory, f"{checked} changed layer(s) rebuilt from their config show the change")


def _kept_verdict(lost: list[str], in_memory: bool, passed: str) -> tuple[CheckResult, list[str]]:
    """Lost changes fail the check, unless the caller keeps the result in memory only."""
    name = "changes kept by a reload"
    if lost and in_memory:
        detail = "in memory only (in_memory=True); a save would lose: " + _joined(lost)
        return CheckResult(kind="changes-kept", name=name, status="skipped", detail=detail), lost
    if lost:
        advice = ". To keep the change in this process only, pass in_memory=True (result.save() then refuses)"
        return CheckResult(kind="changes-kept", name=name, status="failed", detail=_joined(lost) + advice), lost
    return CheckResult(kind="changes-kept", name=name, status="passed", detail=passed), []


def _touched(path: str, changed: set[str]) -> bool:
    """A layer the rules changed, or one inside it. What trains elsewhere was as it is
    before the rewrite (a model frozen in place by an earlier run) and is not this
    rewrite's to answer for; a changed sublayer is read back on its own."""
    return any(path == c or path.startswith(f"{c}/") for c in changed)


def _training_by_layer(model: Any) -> dict[str, int]:
    """How many trainable variables each layer holds, by layer path (nested models walked).

    Counted per layer, not by variable path: the sublayers a composite layer makes
    get fresh automatic names (`dense_7`) each time it is rebuilt.
    """
    training = {id(v) for v in model.trainable_weights}
    counts: dict[str, int] = {}
    stack = [(model, "")]
    while stack:
        container, prefix = stack.pop()
        for layer in container.layers:
            path = f"{prefix}{layer.name}"
            if isinstance(layer, keras.Model):
                stack.append((layer, f"{path}/"))
            else:
                counts[path] = sum(id(v) in training for v in layer.weights)
    return counts
