"""The edit plan turned into a new Keras model in one clone pass.

Every layer is rebuilt from its config (with the plan's overrides); nested
Functional models are cloned by the same functions, nested Sequential models are
rebuilt as lists (clone_model's call_function does not reach into them), shared
layers are rebuilt once and stay shared. Structural edits happen in the call
function: a deleted layer passes its input on, a replaced layer's call runs its
replacement, inserted layers run before or after the layer's call.

A variable that keeps its value is created holding it (the layer's `add_weight`
gets the original variable's value as its initializer during the clone), so it is
neither randomly initialized nor copied a second time; every other variable gets
the layer's real initializer. Configs and saved files are unchanged by this.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras

from rewrite import _keras_private as keras_private
from rewrite.planner.plan import Plan
from rewrite.build.explain import given_up, rebuild_failure
from rewrite.build.inline import inlined_note, plan_inlining, relocate
from rewrite.errors import PlanError, RewriteError, root_cause
from rewrite.graphview.view import GraphView, LayerInfo


@dataclass
class Materialized:
    model: Any
    pairs: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """path -> (original layer, the layer that carries its weights), nested models included."""
    added: dict[str, Any] = field(default_factory=dict)
    """path of a layer the plan adds -> the built layer."""
    prefilled: dict[int, Any] = field(default_factory=dict)
    """id(new variable) -> the original variable it was created from."""
    notes: list[str] = field(default_factory=list)
    inlined: list[str] = field(default_factory=list)
    """Paths of nested models whose layers the result calls inline (see build/inline.py)."""

    def located(self, path: str) -> str:
        """Where the layer at `path` in the original sits in the built model."""
        return relocate(path, self.inlined) if self.inlined else path


class _Inline:
    """What the clone function returns for a nested model to call inline: the call
    function runs that model's layers in the graph around it."""

    def __init__(self, model: Any):
        self.model = model
        self.name = model.name


def owned_value(old: Any) -> Any:
    """`old`'s value as a tensor that a new variable can own without sharing a buffer.

    A TensorFlow variable copies its initial value. JAX variables hold the array
    they are given, and a JAX trainer donates those arrays to its compiled step,
    which deletes them: training the rewritten model would then delete the
    original's weights. A torch Parameter would share the storage. So every
    backend but TensorFlow gets a copy.
    """
    value = old.value
    if keras.backend.backend() != "tensorflow":
        value = keras.ops.copy(value)
    return value


def _prefill(old: Any, new: Any, prefilled: dict[int, Any]) -> bool:
    """Make `new.add_weight` start each variable from `old`'s variable of the same name and shape."""
    olds = {v.name: v for v in old.weights}
    if len(olds) != len(old.weights) or not olds or new.built or keras_private.sublayers(old):
        return False
    create = new.add_weight

    def add_weight(*args: Any, **kwargs: Any) -> Any:
        source = olds.get(kwargs.get("name"))  # type: ignore[arg-type]
        shape = kwargs.get("shape")
        dtype = keras.backend.standardize_dtype(kwargs.get("dtype") or new.variable_dtype)
        if (
            source is not None
            and not args
            and shape is not None
            and tuple(shape) == tuple(source.shape)
            and dtype == keras.backend.standardize_dtype(source.dtype)
        ):
            kwargs["initializer"] = owned_value(source)
            variable = create(**kwargs)
            prefilled[id(variable)] = source
            return variable
        return create(*args, **kwargs)

    new.add_weight = add_weight
    return True


def _clone_lambda(layer: keras.layers.Lambda, overrides: dict[str, Any]) -> keras.layers.Lambda:
    # from_config would deserialize the function's bytecode, which safe mode refuses;
    # the function object is already in memory, so reuse it.
    return keras.layers.Lambda(
        layer.function,
        output_shape=keras_private.lambda_output_shape(layer),
        mask=layer.mask,
        arguments=dict(layer.arguments),
        name=overrides.get("name", layer.name),
        trainable=overrides.get("trainable", layer.trainable),
        dtype=layer.dtype_policy,
    )


def _fresh_input(tensor: Any, width: Callable[[str], int | None] | None = None) -> Any:
    """A new Input like the model's, under the same InputLayer name.

    clone_model would name it after the symbolic tensor (`keras_tensor_12`), which
    renames every unnamed input of the model. `width(name)` gives a nested model's
    input the channel count pruning leaves it.
    """
    history = keras_private.tensor_history(tensor)
    layer = history[0] if history else None
    if not isinstance(layer, keras.layers.InputLayer):
        return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype)
    shape = tuple(tensor.shape)
    channels = width(layer.name) if width is not None else None
    if channels is not None:
        shape = (*shape[:-1], channels)
    return keras.Input(
        batch_shape=shape,
        dtype=tensor.dtype,
        name=layer.name,
        sparse=layer.sparse,
        optional=layer.optional,
    )


class _CloneBuilder:
    def __init__(self, view: GraphView, plan: Plan, prefill: bool):
        self.view = view
        self.plan = plan
        self.prefill = prefill
        self.paths = {id(info.layer): path for path, info in view.layers.items() if info.owner is None}
        self.held: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for edit in plan.edits.values():
            if edit.info.owner is not None and edit.info.owner_key is not None:
                self.held.setdefault(edit.info.owner, []).append((edit.info.owner_key, edit.overrides))
        self.memo: dict[int, Any] = {}
        self.origin: dict[int, str] = {}
        """id(object handed to the call function) -> path of the model layer it stands for."""
        self.hooked: list[Any] = []
        self.result = Materialized(model=None)
        self.inline = plan_inlining(view.model, lambda m: self.paths.get(id(m)))
        for path in self.inline.values():
            if self.plan.overrides(path):
                raise PlanError(
                    f"`{path}` is a nested model that shares a layer with the graph around it, so the rewritten model "
                    "calls its layers inline (a .keras file keeps a layer shared only within one graph) and it has "
                    f"no layer of its own to change ({self.plan.cause(path, view)}). Select the layers inside it, "
                    "or rewrite in mode='inplace'"
                )
        self.result.inlined = list(self.inline.values())

    # -------------------------------------------------------------- layers

    def rebuild(self, layer: Any, path: str | None) -> Any:
        """A fresh copy of a model layer from its config and the plan's overrides."""
        overrides = self.plan.overrides(path) if path else {}
        if isinstance(layer, keras.layers.Lambda):
            return _clone_lambda(layer, overrides)
        try:
            config = layer.get_config()
            config.update(overrides)
            for key, inner in self.held.get(path or "", []):
                config[key] = dict(config[key], config=dict(config[key]["config"], **inner))
            new = layer.__class__.from_config(config)
        except Exception as exc:
            if overrides:  # Keras refuses a value the rules gave: say which
                given = ", ".join(f"{k} := {v!r}" for k, v in overrides.items())
                raise PlanError(
                    f"layer `{path}` ({type(layer).__name__}): Keras refuses {given}: {root_cause(exc)} (set by {self.plan.cause(path or '', self.view)})"
                ) from exc
            raise PlanError(rebuild_failure(path or layer.name, layer, exc)) from exc
        if self.prefill and layer.weights and _prefill(layer, new, self.result.prefilled):
            self.hooked.append(new)
        return new

    def added_layer(self, info: LayerInfo) -> Any:
        """The built-to-be copy of a layer the plan adds (one per plan entry: shared calls share it)."""
        if info.key in self.result.added:
            return self.result.added[info.key]
        config = {**info.layer.get_config(), **self.plan.overrides(info.key)}
        edit = self.plan.edits[info.key]
        if edit.role == "wrapper":
            old = self.view.layers[edit.anchor or ""].layer
            inner = self.rebuild(old, edit.anchor)
            config.pop("backward_layer", None)  # derived from the inner layer again
            config["layer"] = keras.saving.serialize_keras_object(inner)
        new = type(info.layer).from_config(config)
        self.result.added[info.key] = new
        return new

    def clone_layer(self, layer: Any) -> Any:
        if id(layer) in self.memo:
            return self.memo[id(layer)]
        if not isinstance(layer, keras.layers.Layer):
            try:  # a raw keras.ops operation: stateless, rebuilt from its config
                new = layer.__class__.from_config(layer.get_config())
            except Exception:
                new = layer
            self.memo[id(layer)] = new
            return new
        path = self.paths.get(id(layer))
        edit = self.plan.edits.get(path) if path else None
        if id(layer) in self.inline:
            new = _Inline(layer)
        elif isinstance(layer, keras.Model):
            new = self.clone_model(layer)
            self._restore_model_flags(path, layer, new)
        elif edit is not None and (edit.remove or edit.replacement):
            # Never called: the call function passes the input on or runs the replacement.
            new = keras.layers.Identity(name=f"{layer.name}_removed")
            if edit.replacement:
                first = edit.replacement[0]
                carrier = self.added_layer(first)
                if path is not None and self.plan.edits[first.key].carry_from == path:
                    self.result.pairs[path] = (layer, carrier)
        elif path is not None and edit is not None and edit.wrapper is not None:
            new = self.added_layer(edit.wrapper)
            self.result.pairs[path] = (layer, new)
        else:
            new = self.rebuild(layer, path)
            if path:
                self.result.pairs[path] = (layer, new)
        if path and isinstance(layer, keras.Model) and not isinstance(new, _Inline):
            self.result.pairs[path] = (layer, new)
        self.memo[id(layer)] = new
        if path:
            self.origin[id(new)] = path
        return new

    # -------------------------------------------------------------- calls

    def _apply(self, infos: list[LayerInfo], x: Any, anchor: str, role: str) -> Any:
        for info in infos:
            layer = self.added_layer(info)
            try:
                x = layer(x)
            except Exception as exc:
                raise PlanError(
                    f"adding `{info.path}` ({type(layer).__name__}) {role} `{anchor}` failed: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]}"
                ) from exc
        return x

    def call_layer(self, new: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(new, _Inline):
            inputs = args[0] if args else kwargs.pop("inputs")
            return keras_private.run_graph(new.model, inputs, self.clone_layer, self.call_layer)
        path = self.origin.get(id(new))
        edit = self.plan.edits.get(path) if path else None
        if edit is None or not (edit.remove or edit.replacement or edit.before or edit.after):
            try:
                return new(*args, **kwargs)
            except Exception as exc:
                if isinstance(exc, PlanError) or not self.plan.edits:
                    raise
                raise PlanError(
                    f"building the rewritten model failed at `{path or new.name}` ({type(new).__name__}): "
                    f"{str(exc).strip().splitlines()[0]}. It no longer fits what an edit before it produces: "
                    f"{self.plan.cause(path or new.name, self.view)}"
                ) from exc
        assert path is not None
        if (edit.before or edit.remove or edit.replacement) and (len(args) != 1 or not isinstance(args[0], keras.KerasTensor)):
            raise PlanError(f"`{path}` is called with more than one input; it cannot be deleted, replaced or preceded here")
        if edit.before:
            args = (self._apply(edit.before, args[0], path, "before"),)
        if edit.remove:
            out = args[0]
        elif edit.replacement:
            out = self._apply(edit.replacement, args[0], path, "in place of")
        else:
            out = new(*args, **kwargs)
        if edit.after:
            out = self._apply(edit.after, out, path, "after")
        return out

    # -------------------------------------------------------------- models

    def clone_model(self, model: Any) -> Any:
        if isinstance(model, keras.Sequential):
            return self.clone_sequential(model)
        width = self._pruned_width(model)
        inputs = keras.tree.map_structure(lambda t: _fresh_input(t, width), model.input)
        return keras.models.clone_model(model, input_tensors=inputs, clone_function=self.clone_layer, call_function=self.call_layer)

    def _pruned_width(self, model: Any) -> Callable[[str], int | None] | None:
        """For a nested model whose input channels pruning shrinks: its inputs' new width, by InputLayer name."""
        path = self.paths.get(id(model))
        pruning = self.plan.pruning
        if not path or pruning is None:
            return None

        def width(name: str) -> int | None:
            return pruning.input_width(f"{path}/{name}#0")

        return width

    def clone_sequential(self, model: keras.Sequential) -> keras.Sequential:
        """A Sequential is a list: structural edits are list edits."""
        layers: list[Any] = []
        for layer in model.layers:
            path = self.paths.get(id(layer))
            edit = self.plan.edits.get(path) if path else None
            new = self.clone_layer(layer)
            if edit is None:
                layers.append(new)
                continue
            layers += [self.added_layer(i) for i in edit.before]
            if edit.replacement:
                layers += [self.added_layer(i) for i in edit.replacement]
            elif not edit.remove:
                layers.append(new)
            layers += [self.added_layer(i) for i in edit.after]
        functional = keras_private.sequential_functional(model)
        if functional is not None:
            (source,) = functional.inputs
            history = keras_private.tensor_history(source)
            name = history[0].name if history else None
            shape = tuple(source.shape)
            width = self._pruned_width(model)
            channels = width(name) if width is not None and name else None
            if channels is not None:
                shape = (*shape[:-1], channels)
            layers.insert(0, keras.Input(batch_shape=shape, dtype=source.dtype, name=name))
        clone = keras.Sequential(layers, name=model.name, trainable=model.trainable)
        if model.compiled:
            clone.compile_from_config(model.get_compile_config())
        return clone

    def _restore_model_flags(self, path: str | None, old: Any, new: Any) -> None:
        """clone_model drops a Functional's `trainable` flag; nested models get plan edits here."""
        overrides = self.plan.overrides(path) if path else {}
        trainable = overrides.get("trainable", old.trainable)
        if new.trainable != trainable:
            new.trainable = trainable
        if "name" in overrides:
            new.name = overrides["name"]


def materialize(view: GraphView, plan: Plan, prefill: bool = True) -> Materialized:
    """Build the rewritten model. The original model is only read."""
    builder = _CloneBuilder(view, plan, prefill)
    try:
        model = builder.clone_model(view.model)
    except RewriteError:
        raise
    except Exception as exc:  # Keras's own failure: said as a rewrite error, with its root cause
        raise PlanError(
            f"building the rewritten model failed: {root_cause(exc)}. The rules matched and planned; Keras refused "
            "to build the result. Check the layers the rules change, or rewrite in mode='inplace'"
        ) from exc
    finally:
        for new in builder.hooked:
            if "add_weight" in vars(new):
                del new.add_weight
    builder._restore_model_flags(None, view.model, model)
    result = builder.result
    result.model = model
    result.notes += _trainable_after_build(plan, result)
    if builder.inline:
        result.notes.append(inlined_note(builder.inline))
    if type(model) is not type(view.model):
        result.notes.append(given_up(view.model, model))
    return result


@contextmanager
def recursion_room(view: GraphView):
    """Python stack depth for Keras's graph walks, which recurse once per layer on a path.

    A user's 3,000-layer model was built with a raised recursion limit; cloning,
    saving and loading it recurse as deep again. The limit is raised (never lowered)
    for the rewrite and put back after it.
    """
    before = sys.getrecursionlimit()
    needed = 4 * len(view.layers) + 2000
    if needed > before:
        sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        if sys.getrecursionlimit() == needed and needed > before:
            sys.setrecursionlimit(before)


def _trainable_after_build(plan: Plan, built: Materialized) -> list[str]:
    """`trainable` set again on built layers that hold sublayers.

    Keras's constructor stores `trainable` on the layer only; the sublayers it
    creates make their variables trainable whatever it says. Set on the built
    layer, the flag reaches every sublayer and variable, as the rule meant.
    """
    notes = []
    for path, edit in plan.edits.items():
        if "trainable" not in edit.overrides or path not in built.pairs:
            continue
        new = built.pairs[path][1]
        if keras_private.sublayers(new) and not isinstance(new, keras.Model):
            keras_private.set_trainable(new, bool(edit.overrides["trainable"]))
            notes.append(
                f"`{path}`: trainable={new.trainable} set on the built layer so that it reaches its "
                f"{len(keras_private.sublayers(new))} sublayer(s) (Keras's constructor sets it on the layer only)"
            )
    return notes
