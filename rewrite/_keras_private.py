"""Every private Keras API keras-rewrite touches, in one place.

Keras 3 keeps a functional model's call graph in private attributes. Each helper
here names what it reads; tests/test_keras_private.py exercises each one so that a
Keras upgrade that moves them fails loudly there, not deep inside a rewrite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
from keras.src.models.functional import Functional
from keras.src.ops.function import make_node_key

__all__ = [
    "Functional",
    "created_trainable",
    "disable_lora",
    "first_call",
    "lambda_output_shape",
    "output_structure",
    "producer_inputs",
    "tensor_history",
    "is_functional",
    "model_calls",
    "node_input_sources",
    "reset_compiled_functions",
    "run_graph",
    "sequential_functional",
    "set_trainable",
    "sublayers",
]


def is_functional(model: Any) -> bool:
    return isinstance(model, Functional)


def sequential_functional(model: keras.Sequential) -> Functional | None:
    """The Functional graph a built Sequential model keeps (`_functional`), or None."""
    return getattr(model, "_functional", None)


def model_calls(model: Functional) -> Iterator[tuple[Any, int, Any]]:
    """(operation, node_index, node) for each call that belongs to this model.

    `op._inbound_nodes` lists the calls of every model that ever called the op; the
    model's own are those whose key is in `model._nodes`.
    """
    own = model._nodes
    for op in model._operations:
        for index, node in enumerate(op._inbound_nodes):
            if make_node_key(op, index) in own:
                yield op, index, node


def run_graph(model: Functional, inputs: Any, operation_fn: Any, call_fn: Any) -> Any:
    """`model`'s graph run on `inputs` (as its `call` takes them), each operation
    replaced by `operation_fn(op)` and called through `call_fn(op, *args, **kwargs)`:
    the model's layers called inline, in the caller's graph."""
    flat = model._standardize_inputs(inputs)
    return model._run_through_graph(flat, operation_fn=operation_fn, call_fn=call_fn)


def node_input_sources(node: Any) -> list[tuple[Any, int, int, Any]]:
    """For each input tensor of a node: (source op, source node index, tensor index, tensor)."""
    sources = []
    for tensor in node.arguments.keras_tensors:
        history = getattr(tensor, "_keras_history", None)
        if history is None or history.operation is None:
            continue
        sources.append((history.operation, history.node_index, history.tensor_index, tensor))
    return sources


def node_call(node: Any) -> tuple[tuple, dict]:
    """The positional and keyword arguments a node was called with."""
    return node.arguments.args, node.arguments.kwargs


def sublayers(layer: Any) -> list[Any]:
    """Layers tracked directly inside a layer (composite layers, wrappers)."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def created_trainable(layer: Any) -> list[Any]:
    """The variables of a layer and its sublayers that were created trainable
    (Keras keeps them apart from those created non-trainable, such as moving means)."""
    return [v for inner in layer._flatten_layers(include_self=True, recursive=True) for v in inner._trainable_variables]


def disable_lora(layer: Any) -> None:
    """Undo `layer.enable_lora(...)` (Dense, EinsumDense, Embedding): the adapters go, the
    frozen kernel trains again. Keras has no public way back; an in-place rewrite that
    fails after enabling LoRA needs one to leave the caller's model as it was."""
    names = ("lora_embeddings_a", "lora_embeddings_b") if hasattr(layer, "lora_embeddings_a") else ("lora_kernel_a", "lora_kernel_b")
    base = getattr(layer, "_embeddings", None) if names[0].startswith("lora_embeddings") else getattr(layer, "_kernel", None)
    layer._tracker.unlock()
    try:
        for name in names:
            variable = layer.__dict__.get(name)
            if variable is None:
                continue
            for store in ("_trainable_variables", "_non_trainable_variables"):
                held = getattr(layer, store, None)
                if isinstance(held, list):
                    held[:] = [v for v in held if v is not variable]
            object.__delattr__(layer, name)
        if base is not None:
            base.trainable = True
        layer.lora_enabled = False
        layer.lora_rank = None
        layer.lora_alpha = None
    finally:
        layer._tracker.lock()


def set_trainable(layer: Any, value: bool) -> None:
    """`layer.trainable = value`, reaching every sublayer and variable.

    On TensorFlow, the attribute hook skips the property setter when the
    attribute already holds the value, and after `Layer(trainable=False)` it
    does, while the sublayers the constructor made are still trainable. Flipping
    it first makes the setter walk them all, on every backend.
    """
    layer.trainable = not value
    layer.trainable = value


def reset_compiled_functions(model: Any) -> list[str]:
    """Drop the traced predict/train/test functions so the next call re-traces.

    In-place edits of a layer are invisible to functions traced before them.
    """
    reset = []
    # keras-hub's generative tasks trace `generate_function` the same way.
    for attr in ("predict_function", "train_function", "test_function", "generate_function"):
        if getattr(model, attr, None) is not None:
            setattr(model, attr, None)
            reset.append(attr)
    # The JAX trainer keeps its jitted step functions under these names.
    for attr in ("_jax_state_synced",):
        if hasattr(model, attr):
            setattr(model, attr, True)
    return reset


def tensor_history(tensor: Any) -> tuple[Any, int, int] | None:
    """(operation, node index, output index) that produced a symbolic tensor, or None."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None
    return history.operation, history.node_index, history.tensor_index


def producer_inputs(tensor: Any) -> list[Any]:
    """The symbolic input tensors of the call that produced `tensor`."""
    found = tensor_history(tensor)
    if found is None:
        return []
    op, node_index, _ = found
    return list(op._inbound_nodes[node_index].arguments.keras_tensors)


def first_call(layer: Any) -> tuple[tuple, dict]:
    """The arguments of a layer's first call (its symbolic inputs when it was built)."""
    node = layer._inbound_nodes[0]
    return node.arguments.args, node.arguments.kwargs


def output_structure(model: Any) -> Any:
    """The nested structure (list, dict...) a Functional model returns."""
    return getattr(model, "_outputs_struct", model.outputs)


def lambda_output_shape(layer: Any) -> Any:
    """The `output_shape` a Lambda layer was given (kept privately)."""
    return layer._output_shape
