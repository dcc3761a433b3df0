"""The built-in transforms: fold_batchnorm, split_activation, merge_activation, merge_lora.

Each keeps what the model computes in inference, so applying one adds an
`expect outputs equal` check to validation.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rewrite.lang.catalog import canonical_activation
from rewrite.transforms import NewLayer, TransformMatch, TransformSkip, transform

FOLDABLE = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "Dense")
WITH_ACTIVATION = ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")


def _kind(layer: Any, names: tuple[str, ...]) -> str | None:
    for klass in type(layer).__mro__:
        if klass.__name__ in names:
            return klass.__name__
    return None


def _channel_axis(layer: Any, kind: str) -> int:
    if kind == "Dense":
        return -1
    return 1 if layer.get_config().get("data_format") == "channels_first" else -1


@transform("fold_batchnorm", preserves_function=True, chain_length=2)
def fold_batchnorm(match: TransformMatch) -> list[NewLayer]:
    """Conv/Dense followed by BatchNormalization -> one layer with folded kernel and bias."""
    layer, bn = match.layers
    config, bn_config = match.configs
    kind = _kind(layer, FOLDABLE)
    if kind is None:
        raise TransformSkip(f"`{layer.name}` is a {type(layer).__name__}; folding needs one of {', '.join(FOLDABLE)}")
    if not isinstance(bn, keras.layers.BatchNormalization):
        raise TransformSkip(f"`{bn.name}` is not a BatchNormalization")
    if canonical_activation(config.get("activation")) != "linear":
        raise TransformSkip(f"`{layer.name}` applies {config.get('activation')} before the normalization; only a linear layer folds")
    rank = len(layer.output.shape)
    axis = _channel_axis(layer, kind) % rank
    bn_axes = bn_config["axis"] if isinstance(bn_config["axis"], (list, tuple)) else [bn_config["axis"]]
    if [a % rank for a in bn_axes] != [axis]:
        raise TransformSkip(f"`{bn.name}` normalizes axis {bn_config['axis']}, not the channel axis of `{layer.name}`")
    weights = {w.name: np.asarray(keras.ops.convert_to_numpy(w.value), dtype=np.float64) for w in bn.weights}
    channels = weights["moving_mean"].shape[0]
    gamma = weights.get("gamma", np.ones(channels))
    beta = weights.get("beta", np.zeros(channels))
    scale = gamma / np.sqrt(weights["moving_variance"] + bn_config["epsilon"])
    own = {w.name: np.asarray(keras.ops.convert_to_numpy(w.value), dtype=np.float64) for w in layer.weights}
    kernel_name = next(n for n in ("depthwise_kernel", "kernel") if n in own)
    kernel = own[kernel_name]
    bias = own.get("bias", np.zeros(channels))
    if kind.startswith("Depthwise"):
        # depthwise kernel (..., in, multiplier): output channel c = in * multiplier + m
        folded = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        folded = kernel * scale  # output channels are the kernel's last axis
    new_bias = (bias - weights["moving_mean"]) * scale + beta
    new = type(layer).from_config({**config, "use_bias": True})
    dtype = layer.variable_dtype
    ordered = {kernel_name: folded.astype(dtype), "bias": new_bias.astype(dtype)}
    return [NewLayer(new, weights=ordered)]  # type: ignore[arg-type]


@transform("split_activation", preserves_function=True, chain_length=1)
def split_activation(match: TransformMatch) -> list[NewLayer]:
    """A layer with an activation -> the same layer, linear, then an Activation layer."""
    (layer,) = match.layers
    (config,) = match.configs
    if _kind(layer, WITH_ACTIVATION) is None:
        raise TransformSkip(f"`{layer.name}` is a {type(layer).__name__}, which has no activation to split off")
    act = config.get("activation")
    if canonical_activation(act) == "linear":
        raise TransformSkip(f"`{layer.name}` is already linear")
    linear = type(layer).from_config({**config, "activation": "linear"})
    activation = keras.layers.Activation(act, name=f"{config['name']}_activation")
    return [NewLayer(linear), NewLayer(activation, weights={})]


@transform("merge_activation", preserves_function=True, chain_length=2)
def merge_activation(match: TransformMatch) -> list[NewLayer]:
    """A linear layer followed by an Activation layer -> the layer with that activation."""
    layer, act = match.layers
    config, act_config = match.configs
    if _kind(layer, WITH_ACTIVATION) is None:
        raise TransformSkip(f"`{layer.name}` is a {type(layer).__name__}, which has no activation field")
    if not isinstance(act, keras.layers.Activation):
        raise TransformSkip(f"`{act.name}` is not an Activation layer")
    if canonical_activation(config.get("activation")) != "linear":
        raise TransformSkip(f"`{layer.name}` already applies {config.get('activation')}")
    return [NewLayer(type(layer).from_config({**config, "activation": act_config["activation"]}))]


LORA_WEIGHTS = {"embeddings": ("lora_embeddings_a", "lora_embeddings_b"), "kernel": ("lora_kernel_a", "lora_kernel_b")}


@transform("merge_lora", preserves_function=True, chain_length=1)
def merge_lora(match: TransformMatch) -> list[NewLayer]:
    """A layer with LoRA adapters (Dense, EinsumDense, Embedding) -> the same layer without
    them, its kernel `W + (lora_alpha / lora_rank) * A @ B`: one matmul at serving time."""
    (layer,) = match.layers
    (config,) = match.configs
    if not getattr(layer, "lora_enabled", False):
        raise TransformSkip(f"`{layer.name}` has no LoRA adapters to merge")
    merged = merged_lora_weights(layer)
    if merged is None:
        raise TransformSkip(f"`{layer.name}` ({type(layer).__name__}) keeps its adapters in a way merge_lora does not know")
    values = {w.name: np.asarray(keras.ops.convert_to_numpy(w.value)) for w in layer.weights if w.name not in _ADAPTERS}
    values.update(merged)
    new = type(layer).from_config({k: v for k, v in config.items() if k not in ("lora_rank", "lora_alpha")})
    return [NewLayer(new, weights=values)]  # type: ignore[arg-type]


_ADAPTERS = {n for pair in LORA_WEIGHTS.values() for n in pair}


def merged_lora_weights(layer: Any) -> dict[str, Any] | None:
    """The base weight of a layer with LoRA adapters with them folded in, by name:
    `W + (lora_alpha / lora_rank) * A @ B` (in float64, stored in the variable's dtype).
    None for a layer without adapters, or with adapters kept in a way not known here."""
    if not getattr(layer, "lora_enabled", False):
        return None
    values = {w.name: w for w in layer.weights}
    base = next((name for name in LORA_WEIGHTS if name in values), None)
    if base is None or not all(n in values for n in LORA_WEIGHTS[base]):
        return None

    def read(name: str) -> Any:
        return np.asarray(keras.ops.convert_to_numpy(values[name].value), dtype=np.float64)

    a, b = (read(n) for n in LORA_WEIGHTS[base])
    scale = float(layer.lora_alpha) / float(layer.lora_rank)
    merged = read(base) + scale * np.tensordot(a, b, axes=1)
    return {base: merged.astype(keras.backend.standardize_dtype(values[base].dtype))}
