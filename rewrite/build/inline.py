"""Nested models that share a layer with the graph around them, called inline.

A keras-hub task reuses a layer of its backbone: `GPT2CausalLM`'s head calls the
backbone's token embedding in reverse, so one layer belongs to two graphs. Keras
holds that in memory, but a Functional model's config cannot say it: a .keras file
stores the layer under the backbone and rebuilds the outer graph with a second,
empty copy, and the load fails ("expected 1 variables, but received 0").

So when a nested Functional model holds a layer that another member of the graph
around it also holds, its layers are called inline, in the outer graph: the shared
layer becomes one layer of one graph with two calls, which a config carries and a
reload keeps shared. The nested model as a unit (its class, its name) is given up,
and the report says so; its layers, weights and calls are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import keras

from rewrite import _keras_private as keras_private
from rewrite.errors import PlanError


def _members(layer: Any) -> Iterable[Any]:
    return layer.layers if isinstance(layer, keras.Model) else ()


def _held(layer: Any, into: set[int]) -> set[int]:
    """ids of `layer` and every layer its nested models hold, at any depth."""
    stack = [layer]
    while stack:
        current = stack.pop()
        if id(current) not in into:
            into.add(id(current))
            stack.extend(_members(current))
    return into


def _inlinable(layer: Any) -> bool:
    return keras_private.is_functional(layer) and not isinstance(layer, keras.Sequential)


def plan_inlining(model: Any, path_of: Callable[[Any], str | None]) -> dict[int, str]:
    """id(nested model) -> its path, for each nested Functional model to call inline."""
    inlined: dict[int, str] = {}
    levels = [model]
    while levels:
        owner = levels.pop()
        members = {id(m): m for m in _members(owner)}
        changed = True
        while changed:
            changed = False
            for key, member in list(members.items()):
                if id(member) in inlined or not _inlinable(member):
                    continue
                inside = _held(member, set()) - {key}
                around: set[int] = set()
                for other in members.values():
                    if other is not member:
                        _held(other, around)
                if inside & around:
                    inlined[key] = path_of(member) or member.name
                    del members[key]
                    members.update({id(m): m for m in member.layers if not isinstance(m, keras.layers.InputLayer)})
                    changed = True
                    break
        if any(id(m) in inlined for m in _members(owner)):
            _unique_names(owner, members.values(), inlined)
        levels += [m for m in members.values() if isinstance(m, keras.Model)]
    return inlined


def _unique_names(owner: Any, members: Iterable[Any], inlined: dict[int, str]) -> None:
    seen: dict[str, Any] = {}
    for member in members:
        other = seen.setdefault(member.name, member)
        if other is not member:
            models = ", ".join(f"`{p}`" for p in inlined.values())
            raise PlanError(
                f"{models} share(s) a layer with the graph of `{owner.name}`, so its layers are called inline there "
                f"(a .keras file cannot keep one layer shared across nested models), but two different layers are "
                f"named `{member.name}` there. Give one of them another name when building the model, or rewrite in mode='inplace'"
            )


def relocate(path: str, inlined: Iterable[str]) -> str:
    """Where the layer at `path` (a path in the original) sits in the built model."""
    for model_path in sorted(inlined, key=lambda p: -p.count("/")):
        if path.startswith(model_path + "/"):
            parent = model_path.rpartition("/")[0]
            rest = path[len(model_path) + 1 :]
            path = f"{parent}/{rest}" if parent else rest
    return path


def inlined_note(inlined: dict[int, str]) -> str:
    names = ", ".join(f"`{p}`" for p in inlined.values())
    return (
        f"{names}: its layers are called inline in the graph around it, because that graph calls one of its layers too "
        "(a tied weight); a .keras file keeps a layer shared only within one graph. Layers, weights and calls are the "
        "same; the nested model as a unit (its class and name) is not part of the result"
    )
