"""Registered transforms: Python functions that rule files can name, never contain.

    @rewrite.transform("double_units", chain_length=1)
    def double_units(match):
        (dense,) = match.layers
        config = dict(match.configs[0], units=dense.units * 2)
        return [NewLayer(type(dense).from_config(config))]  # weights: by policy

A transform receives the matched layers (a single layer, or a chain in order) and
returns the layers that take their place, in order, each optionally with its
weights. It may raise `TransformSkip("why")` for a match it does not apply to; the
report lists the skip. The built-in transforms are named here (`BUILTIN`), so a
rule that names one checks without Keras; `rewrite.planner.builtin_transforms`
registers them when the planner is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BUILTIN = ("fold_batchnorm", "split_activation", "merge_activation")


class TransformSkip(Exception):
    """Raised by a transform for a match it does not apply to; the message says why."""


@dataclass
class TransformMatch:
    """What a transform is given: the matched layers in chain order, by capture too."""

    layers: list[Any]
    configs: list[dict[str, Any]]
    captures: dict[str, Any] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)


@dataclass
class NewLayer:
    """A layer a transform puts in place, with its weights by variable name.

    `weights=None`: the first layer carries the matched layer's weights by path and
    shape (as a layer-class replacement does); later ones are initialized fresh.
    """

    layer: Any
    weights: dict[str, Any] | None = None


@dataclass(frozen=True)
class Transform:
    """A registered transform: its name, the function, and what it promises."""

    name: str
    fn: Callable[[TransformMatch], list[NewLayer]]
    preserves_function: bool = False
    """When True, applying it adds `expect outputs equal` (atol 1e-5, rtol 1e-4)."""
    chain_length: int | None = None
    """How many layers the pattern must have (None: any)."""


_REGISTRY: dict[str, Transform] = {}


def transform(
    name: str, *, preserves_function: bool = False, chain_length: int | None = None
) -> Callable[[Callable[[TransformMatch], list[NewLayer]]], Callable[[TransformMatch], list[NewLayer]]]:
    """Register a function as a transform that rule files can name in `replace ... with NAME`.

    Args:
        name: The name rule files use.
        preserves_function: The transform never changes what the model computes;
            a statement that applies it then expects equal outputs.
        chain_length: How many layers the matched pattern must have (any if None).

    Examples:
        >>> from rewrite.transforms import NewLayer
        >>> @rewrite.transform("double_kernel", chain_length=1)
        ... def double_kernel(match):
        ...     (dense,) = match.layers
        ...     weights = {w.name: w.numpy() * (2 if w.name == "kernel" else 1) for w in dense.weights}
        ...     return [NewLayer(type(dense).from_config(match.configs[0]), weights=weights)]
        >>> new = rewrite.apply(model, 'replace Dense[name = "out"] with double_kernel').model
        >>> bool(np.allclose(new.get_layer("out").kernel.numpy(), 2 * model.get_layer("out").kernel.numpy()))
        True
    """

    def register(fn: Callable[[TransformMatch], list[NewLayer]]) -> Callable[[TransformMatch], list[NewLayer]]:
        _REGISTRY[name] = Transform(name, fn, preserves_function, chain_length)
        return fn

    return register


def known() -> set[str]:
    """Transform names a rule may use: the built-ins and everything registered so far."""
    return set(BUILTIN) | set(_REGISTRY)


def get(name: str) -> Transform | None:
    """The registered transform `name`; the built-ins are registered when the planner
    (`rewrite.planner.builtin_transforms`) is imported."""
    return _REGISTRY.get(name)
