"""Carry weights from the original layers to the rewritten ones.

Variables are paired per layer, by their path inside the layer (and by position
when both layers list the same names), and copied variable to variable. A pair
whose shapes differ follows the weight policy: `keep` refuses with an error that
names the layer, the weight, both shapes and the policy that would allow it;
`reinit` initializes it fresh; `slice` copies the overlapping block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import keras
import numpy as np

from rewrite.planner.builtin_transforms import merged_lora_weights
from rewrite.planner.plan import Plan
from rewrite.errors import WeightPolicyError
from rewrite.graphview.view import GraphView, relative_path
from rewrite.build.clone import Materialized, owned_value
from rewrite.report.data import WeightAction, WeightSummary
from rewrite.build.prune import prune_weights
from rewrite.build.quantize import quantize_clone
from rewrite.build.widen import widen_weights


@dataclass
class Transfer:
    summary: WeightSummary
    kept: list[tuple[str, Any, Any]] = field(default_factory=list)
    """(label, original variable, new variable) for every copied weight."""


def _auto_named(var: Any) -> bool:
    name = var.name
    return name == "variable" or (name.startswith("variable_") and name[9:].isdigit())


def _pair(old: Any, new: Any) -> tuple[list[tuple[str, Any, Any]], list[Any], list[Any]]:
    """(name, old var, new var) pairs, new vars without a source, old vars left over."""
    ow, nw = old.weights, new.weights
    if len(ow) == len(nw) and all(a.name == b.name for a, b in zip(ow, nw)):
        return [(relative_path(b, new), a, b) for a, b in zip(ow, nw)], [], []
    if len(ow) == len(nw) and type(old) is type(new) and all(_auto_named(a) and _auto_named(b) for a, b in zip(ow, nw)):
        # unnamed add_weight calls get a global counter (`variable_18`): the same
        # class builds them in the same order, so position is the identity
        return [(relative_path(b, new), a, b) for a, b in zip(ow, nw)], [], []
    olds = {relative_path(v, old): v for v in ow}
    pairs, orphans = [], []
    for v in nw:
        key = relative_path(v, new)
        if key in olds:
            pairs.append((key, olds.pop(key), v))
        else:
            orphans.append(v)
    return pairs, orphans, list(olds.values())


LORA_ADAPTERS = ("lora_kernel_a", "lora_kernel_b", "lora_embeddings_a", "lora_embeddings_b")


def is_adapter(var: Any) -> bool:
    return str(var.name) in LORA_ADAPTERS


def _inner(layer: Any) -> Any:
    """The layer a wrapper holds (the forward one of a Bidirectional)."""
    return getattr(layer, "forward_layer", None) or layer.layer


def transfer(view: GraphView, plan: Plan, built: Materialized) -> Transfer:
    """Copy every weight that can be kept; follow the policy for the rest."""
    result = Transfer(WeightSummary())
    actions: list[WeightAction] = []
    copied_values = 0
    carriers = set()
    for path, (old, new) in built.pairs.items():
        if isinstance(old, keras.Model):
            continue
        carriers.add(id(new))
        target = new
        wrapped = isinstance(new, (keras.layers.Wrapper, keras.layers.Bidirectional)) and not isinstance(
            old, (keras.layers.Wrapper, keras.layers.Bidirectional)
        )
        if wrapped:
            target = _inner(new)
        if target.weights:
            copied_values += _transfer_layer(path, old, target, view, plan, built, result.kept, actions)
        if wrapped:
            own = {id(v) for v in target.weights}
            for v in new.weights:
                if id(v) not in own:
                    actions.append(WeightAction(layer=new.name, weight=v.path, action="new", new_shape=list(v.shape)))
        _carry_state(old, target)
    for key, layer in built.added.items():
        if id(layer) not in carriers:
            _initialize_added(key, layer, plan, actions)
    built.notes += quantize_clone(plan, built.pairs, built.added, result.kept, actions)
    result.summary = WeightSummary(copied=len(result.kept), copied_values=copied_values, actions=actions)
    adapters = [a for a in actions if a.action == "adapter"]
    if adapters:
        built.notes.append(lora_note(adapters, trainable_parameters(view.model), trainable_parameters(built.model)))
    return result


def trainable_parameters(model: Any) -> int:
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def lora_note(adapters: list[WeightAction], trainable_before: int, trainable_after: int) -> str:
    """What LoRA added: adapter variables and parameters, and the parameters that now train."""
    size = sum(int(np.prod(a.new_shape or [])) for a in adapters)
    layers = len({a.layer for a in adapters})
    return (
        f"LoRA: {len(adapters)} adapter variable(s) on {layers} layer(s), {size:,} parameters; trainable parameters "
        f"{trainable_before:,} -> {trainable_after:,} (Keras freezes each adapted kernel; its bias still trains)"
    )


def _transfer_layer(
    path: str,
    old: Any,
    new: Any,
    view: GraphView,
    plan: Plan,
    built: Materialized,
    kept: list[tuple[str, Any, Any]],
    actions: list[WeightAction],
) -> int:
    pairs, orphans, dropped = _pair(old, new)
    adapters = [v for v in orphans if is_adapter(v)] if "lora_rank" in plan.overrides(path) else []
    if adapters:  # LoRA adapters, made by Keras's own enable_lora (A random, B zeros): new by design
        orphans = [v for v in orphans if not is_adapter(v)]
        for v in adapters:
            actions.append(WeightAction(layer=path, weight=relative_path(v, new), action="adapter", new_shape=list(v.shape)))
    pruned = prune_weights(plan, path, pairs, actions)
    if pruned:
        pairs = [p for p in pairs if id(p[2]) not in pruned]
    mismatched = [(k, a, b) for k, a, b in pairs if tuple(a.shape) != tuple(b.shape)]
    policy = plan.policy_for(path, view) if (mismatched or orphans) else "keep"
    if policy == "keep" and mismatched:
        key, a, b = mismatched[0]
        raise WeightPolicyError(
            f"layer `{path}`: weight `{key}` has shape {tuple(a.shape)} in the original but the rewritten "
            f"layer needs {tuple(b.shape)}; `using weights=keep` (the default) only copies weights unchanged. "
            "Add `using weights=reinit` (fresh values for what does not fit) or `using weights=slice` "
            f"(copy the overlapping block) to the statement that changed it: {plan.cause(path, view)}",
            layer=path,
            weight=key,
            old_shape=tuple(a.shape),
            new_shape=tuple(b.shape),
        )
    if policy == "keep" and orphans:
        raise WeightPolicyError(
            f"layer `{path}`: the rewritten layer has weight `{relative_path(orphans[0], new)}` with no source in the "
            f"original; add `using weights=reinit` to the statement that changed it: {plan.cause(path, view)}",
            layer=path,
            weight=relative_path(orphans[0], new),
        )
    widened: set[int] = set()
    if policy == "widen":

        widening = plan.widening_for(path)
        if widening is not None:
            for key, a, b in widen_weights(widening, path, pairs):
                widened.add(id(b))
                actions.append(WeightAction(layer=path, weight=key, action="widened", old_shape=list(a.shape), new_shape=list(b.shape)))
    # Adapters the rewritten layer no longer has are folded into its kernel, as Keras's save does.
    merged = merged_lora_weights(old) if not getattr(new, "lora_enabled", False) else None
    copied_values = 0
    for key, a, b in pairs:
        if id(b) in widened:
            continue
        if merged and b.name in merged and tuple(a.shape) == tuple(b.shape):
            b.assign(merged[b.name])
            actions.append(WeightAction(layer=path, weight=key, action="computed", old_shape=list(a.shape), new_shape=list(b.shape)))
            continue
        if tuple(a.shape) == tuple(b.shape):
            if built.prefilled.get(id(b)) is not a:
                b.assign(owned_value(a))
            kept.append((f"{path}/{key}", a, b))
            copied_values += int(np.prod(a.shape))
            continue
        # Variables that do not fit were created by the layer's own initializer.
        action: Literal["reinitialized", "sliced"] = "reinitialized"
        if policy == "slice" and len(a.shape) == len(b.shape):
            value = np.array(keras.ops.convert_to_numpy(b.value))
            block = tuple(slice(0, min(x, y)) for x, y in zip(a.shape, b.shape))
            value[block] = np.asarray(keras.ops.convert_to_numpy(a.value))[block]
            b.assign(value)
            action = "sliced"
        actions.append(WeightAction(layer=path, weight=key, action=action, old_shape=list(a.shape), new_shape=list(b.shape)))
    for b in orphans:
        actions.append(WeightAction(layer=path, weight=relative_path(b, new), action="reinitialized", new_shape=list(b.shape)))
    for a in dropped:
        actions.append(WeightAction(layer=path, weight=relative_path(a, old), action="dropped", old_shape=list(a.shape)))
    return copied_values


def _initialize_added(key: str, layer: Any, plan: Plan, actions: list[WeightAction]) -> None:
    """Weights of a layer the plan adds: computed by a transform, an identity start, or fresh."""
    edit = plan.edits[key]
    path = edit.info.path
    if edit.weights is not None:
        missing = [v.name for v in layer.weights if v.name not in edit.weights]
        if missing:
            raise WeightPolicyError(f"the transform gave no value for `{path}` weight(s) {', '.join(missing)}", layer=path)
        for v in layer.weights:
            value = np.asarray(edit.weights[v.name])
            if tuple(value.shape) != tuple(v.shape):
                raise WeightPolicyError(
                    f"the transform's value for `{path}/{v.name}` has shape {value.shape}, the layer needs {tuple(v.shape)}",
                    layer=path, weight=v.name, old_shape=tuple(value.shape), new_shape=tuple(v.shape),
                )
            v.assign(value)
            actions.append(WeightAction(layer=path, weight=v.name, action="computed", new_shape=list(v.shape)))
        return
    if edit.identity:
        _identity(path, layer)
    action: Literal["identity", "new"] = "identity" if edit.identity else "new"
    for v in layer.weights:
        actions.append(WeightAction(layer=path, weight=v.name, action=action, new_shape=list(v.shape)))


def _identity(path: str, layer: Any) -> None:
    """Start a layer as the identity function (Dense, convolutions, BatchNormalization)."""

    def refuse(why: str) -> NoReturn:
        raise WeightPolicyError(f"`{path}` cannot start as the identity: {why}; drop `using weights=identity`", layer=path)

    if isinstance(layer, keras.layers.BatchNormalization):
        eps = layer.epsilon
        for v in layer.weights:
            base = {"gamma": np.sqrt(1 + eps), "moving_variance": 1.0}.get(v.name, 0.0)
            v.assign(np.full(v.shape, base, dtype=v.dtype))
        return
    config = layer.get_config()
    if config.get("activation") not in (None, "linear"):
        refuse(f"it applies {config['activation']}")
    if isinstance(layer, keras.layers.Dense):
        n_in, n_out = layer.kernel.shape
        if n_in != n_out:
            refuse(f"it maps {n_in} features to {n_out}")
        layer.kernel.assign(np.eye(n_in, dtype=layer.kernel.dtype))
    else:
        kernel = getattr(layer, "depthwise_kernel", None) or getattr(layer, "kernel", None)
        if kernel is None:
            refuse(f"{type(layer).__name__} has no identity start")
        shape = tuple(kernel.shape)
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        if (depthwise and shape[-1] != 1) or (not depthwise and shape[-1] != shape[-2]):
            refuse("its input and output channels differ")
        strides = config.get("strides", 1)
        if any(k % 2 == 0 for k in shape[:-2]) or config.get("padding") != "same" or any(s != 1 for s in np.atleast_1d(strides)):
            refuse("an identity convolution needs odd kernel sizes, padding='same' and strides 1")
        value = np.zeros(shape, dtype=kernel.dtype)
        center = tuple(k // 2 for k in shape[:-2])
        for c in range(shape[-2]):
            value[(*center, c, 0 if depthwise else c)] = 1
        kernel.assign(value)
    if getattr(layer, "bias", None) is not None:
        layer.bias.assign(np.zeros(layer.bias.shape, dtype=layer.bias.dtype))


def _carry_state(old: Any, new: Any) -> None:
    """State that lives outside weights: lookup vocabularies, Normalization statistics."""
    if hasattr(old, "get_vocabulary") and hasattr(new, "set_vocabulary"):
        vocabulary = old.get_vocabulary()
        if vocabulary and list(new.get_vocabulary()) != list(vocabulary):
            new.set_vocabulary(vocabulary)
    if type(new).__name__ == "Normalization" and hasattr(new, "finalize_state") and new.built:
        new.finalize_state()
