"""Probe data: a deterministic input batch shaped like the model's inputs."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rewrite import _keras_private as keras_private
from rewrite.errors import ValidationFailure
from rewrite.graphview.view import GraphView, build_view


def graph_model(model: Any) -> Any:
    """The Functional that holds a model's graph (a built Sequential keeps one)."""
    if isinstance(model, keras.Sequential):
        functional = keras_private.sequential_functional(model)
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
    if backend == "tensorflow" or not (keras_private.is_functional(model) or isinstance(model, keras.Sequential)):
        return  # a subclassed model's inputs are the probe the caller gives
    strings = [t for t in keras.tree.flatten(graph_model(model).input) if str(t.dtype) == "string"]
    if strings:
        names = ", ".join(f"`{t.name}`" for t in strings)
        raise ValidationFailure(
            f"model `{model.name}` takes string input {names}, and Keras runs a model on strings only on "
            f"the TensorFlow backend (this process uses {backend}), so its outputs cannot be compared; "
            "pass validate='config' (CLI: --validate config) to check the config and the weights without "
            "running the model, or run under KERAS_BACKEND=tensorflow"
        )


def unprobed_reason(model: Any, given: Any) -> str | None:
    """Why the model cannot be run on a probe here (None: it can): what `validate='config'`
    then says instead of checking that its outputs are finite."""
    if given is None and not (keras_private.is_functional(model) or isinstance(model, keras.Sequential)):
        return "a subclassed model declares no inputs; pass probe= to check its outputs"
    try:
        require_runnable(model)
    except ValidationFailure:
        return f"Keras runs models with string inputs only on TensorFlow (this process uses {keras.backend.backend()})"
    return None


def make_probe(model: Any, view: GraphView | None = None, batch: int = 4, seed: int = 0) -> Any:
    """A deterministic input batch shaped like the model's inputs.

    Integer inputs that feed an Embedding stay inside its vocabulary; string inputs
    that feed a lookup layer draw from its vocabulary; inputs that feed a Rescaling
    layer (pixels scaled by 1/255) draw from the range it expects.
    """
    if not keras_private.is_functional(model) and not isinstance(model, keras.Sequential):
        raise ValidationFailure(
            f"`{model.name}` is a subclassed model ({type(model).__name__}): it declares no inputs to shape a probe "
            "batch from; pass probe= (a batch of its inputs; CLI --probe DATA.npz), or validate='config'"
        )
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
        history = keras_private.tensor_history(t)
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


def require_rows(x: Any) -> None:
    """Refuse a probe batch with no rows: every output comparison on it would pass."""
    arrays = keras.tree.flatten(x)
    if not arrays:
        raise ValidationFailure("the probe batch is empty (no input arrays); pass a batch of the model's inputs, or validate='config'")
    sizes = set()
    for i, array in enumerate(arrays):
        shape = tuple(getattr(array, "shape", np.shape(array)))
        if not shape or shape[0] == 0 or int(np.prod(shape)) == 0:
            raise ValidationFailure(
                f"the probe batch is empty: its input {i} has shape {shape}, so no output could be compared; "
                "pass at least one row (probe=..., CLI --probe DATA.npz), or validate='config'"
            )
        sizes.add(shape[0])
    if len(sizes) > 1:
        raise ValidationFailure(f"the probe's inputs have different batch sizes {sorted(sizes)}; give every input the same number of rows")
