"""Every private Keras API keras-rewrite touches, in one place.

Keras 3 keeps a functional model's call graph in private attributes. Each helper
here names what it reads; tests/test_keras_private.py exercises each one so that a
Keras upgrade that moves them fails loudly there, not deep inside a rewrite.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
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
    "release_variables",
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


def lora_frozen(layer: Any) -> list[Any]:
    """The base kernels (or embeddings) that `enable_lora` froze, in `layer` and its sublayers."""
    found = []
    for inner in layer._flatten_layers(include_self=True, recursive=True):
        if getattr(inner, "lora_enabled", False):
            base = inner.__dict__.get("_embeddings", inner.__dict__.get("_kernel"))
            if base is not None:
                found.append(base)
    return found


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


def _contents(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, set):
        return set(value)
    return None


def _put_back(container: Any, contents: Any) -> None:
    """The contents back in place, through the base type's methods: Keras's tracked
    lists and dicts would track (and, on a built layer, refuse) what goes back in."""
    if isinstance(container, list):
        list.__setitem__(container, slice(None), contents)
    elif isinstance(container, dict):
        dict.clear(container)
        dict.update(container, contents)
    else:
        set.clear(container)
        set.update(container, contents)


def saved_state(layer: Any) -> Callable[[], None]:
    """A function that puts `layer` back as it is now: its attributes, the lists of
    variables it tracks, its tracker's bookkeeping and a shared dtype-policy map.

    `layer.quantize(mode)` deletes the float kernel and creates integer variables
    in its place; Keras has no way back. An in-place rewrite that fails after
    quantizing needs one to leave the caller's model as it was; the float
    variables themselves are kept alive by this state, so nothing is recomputed.
    """
    attributes = dict(layer.__dict__)
    contents = {name: _contents(value) for name, value in attributes.items()}
    tracker = getattr(layer, "_tracker", None)
    stored = {name: set(ids) for name, ids in tracker.stored_ids.items()} if tracker is not None else None
    policy = attributes.get("_dtype_policy")
    policy_map = dict(policy._policy_map) if isinstance(policy, keras.dtype_policies.DTypePolicyMap) else None

    def restore() -> None:
        for name in [n for n in layer.__dict__ if n not in attributes]:
            object.__delattr__(layer, name)
        for name, value in attributes.items():
            object.__setattr__(layer, name, value)
            if contents[name] is not None:
                _put_back(value, contents[name])
        if stored is not None and tracker is not None:
            for name, ids in stored.items():
                _put_back(tracker.stored_ids[name], ids)
        if policy_map is not None and policy is not None:
            _put_back(policy._policy_map, policy_map)

    return restore


@contextmanager
def one_collection() -> Iterator[None]:
    """One garbage collection for a batch of variable deletions instead of one each.

    Keras's `Layer.__delattr__` runs `gc.collect()` for every variable it deletes
    (`quantize` deletes each float kernel), a full collection that takes tenths of
    a second in a process holding TensorFlow: for a model of many layers that is
    most of the time quantizing takes. The call is deferred to one at the end.
    """
    real = gc.collect
    gc.collect = lambda generation=2: 0
    try:
        yield
    finally:
        gc.collect = real
        real()


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


def release_variables(model: Any) -> int:
    """Free the storage of every variable of `model` now, whoever else refers to it; the bytes freed.

    The layers, their configs and the variables' names, shapes and flags stay, so
    the model can still be read as a structure; reading a value afterwards fails.
    On TensorFlow the variable is given an empty value (its resource stays, so
    the handle TensorFlow ref-counts is not needed to free it; a buffer another
    variable shares, as a rewrite's kept weights share the original's, lives on
    with that one); on JAX the array is deleted; other backends keep the storage
    (0 bytes).
    """
    backend = keras.backend.backend()
    freed = 0
    for variable in model.variables:
        inner = getattr(variable, "_value", None)
        if inner is None:
            continue
        size = math.prod(variable.shape) * np.dtype(keras.backend.standardize_dtype(variable.dtype)).itemsize
        if backend == "tensorflow":
            from rewrite._tf_storage import empty_variable  # here: TensorFlow only on its backend

            empty_variable(inner)
        elif backend == "jax" and hasattr(inner, "delete"):
            inner.delete()
        else:
            continue
        freed += size
    return freed
