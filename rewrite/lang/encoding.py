"""Parameter values as search libraries hold them, and back: one encoding for every bridge.

KerasTuner and Optuna record a choice as one plain value (str, int, float, bool;
Optuna also None). A rule set's choices may be tuples (`(3, 3)`), None, or ints
mixed with floats; such a choice is declared by its text (`"(3, 3)"`) and the
text is turned back into the rule set's value when a trial runs and when a
recorded best trial is read. Choices of one plain type are declared as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewrite.lang.expressions import show
from rewrite.lang.params import ParamSpace

PLAIN = (str, int, float, bool)


def plain(values: Sequence[Any], kinds: tuple[type, ...] = PLAIN) -> bool:
    """Whether a library can hold `values` as they are: one type, and a plain one."""
    types = {type(v) for v in values}
    return len(types) == 1 and next(iter(types)) in kinds


def labels(values: Sequence[Any]) -> dict[str, Any]:
    """Each value by its text in the rule language: `(3, 3)`, `None`, `2.5`.

    Two values written alike (`"2"` and `2`) are numbered: `0: 2`, `1: 2`.
    """
    texts = {show(v): v for v in values}
    if len(texts) != len(values):
        texts = {f"{i}: {show(v)}": v for i, v in enumerate(values)}
    return texts


def options(space: ParamSpace, kinds: tuple[type, ...] = PLAIN) -> tuple[list[Any], Any]:
    """A choice (or fixed) param's options as a library declares them, and its default among them."""
    if plain(space.values, kinds):
        return list(space.values), space.default
    texts = labels(space.values)
    default = next(t for t, v in texts.items() if v == space.default and type(v) is type(space.default))
    return list(texts), default


def decode(spaces: dict[str, ParamSpace], recorded: dict[str, Any], kinds: tuple[type, ...] = PLAIN) -> dict[str, Any]:
    """The rule set's values for what a library recorded (a trial's or a best trial's
    params): choices declared by their text become the values again."""
    out = dict(recorded)
    for name, s in spaces.items():
        if name in recorded and s.kind in ("choice", "fixed") and not plain(s.values, kinds):
            out[name] = labels(s.values)[recorded[name]]
    return out
