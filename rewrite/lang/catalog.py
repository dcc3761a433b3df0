"""What Keras layer classes exist and which fields they take, without importing Keras.

The data (catalog.json, package data) is generated from Keras by
`python -m rewrite._catalog_gen`; a test checks it against the installed Keras.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass

from rewrite.lang.resources import package_path

# Fields every layer has in a selector, beyond its get_config() keys.
SPECIAL_FIELDS = {"name", "class", "path", "params", "index", "trainable"}
# Of those, the ones a statement may set.
SETTABLE_SPECIAL = {"name", "trainable"}

# Nonlinearities that are layers of their own, without an `activation` field.
NONLINEAR_LAYERS = {"ReLU", "LeakyReLU", "PReLU", "Softmax", "ELU"}

ACTIVATION_ALIASES = {"swish": "silu", "none": "linear"}


@dataclass(frozen=True)
class LayerClass:
    name: str
    module: str
    bases: tuple[str, ...]
    fields: dict[str, str]


class Catalog:
    """Keras layer classes by name, with their bases and their fields' value kinds."""

    def __init__(self, data: dict):
        self.keras_version: str = data["keras_version"]
        self.classes = {
            name: LayerClass(name, c["module"], tuple(c["bases"]), dict(c["fields"]))
            for name, c in data["classes"].items()
        }
        self.activations: list[str] = list(data["activations"])
        self.base_names = {b for c in self.classes.values() for b in c.bases}
        # Asked once per selector and value in a rule file: computed once here.
        self._subclasses: dict[str, list[LayerClass]] = {}
        self._activation_names = {canonical_activation(a) for a in self.activations}
        self.all_fields = frozenset(f for c in self.classes.values() for f in c.fields)
        """Every field of every catalogued class."""

    def knows(self, class_name: str) -> bool:
        """True for a Keras class or a Keras base class (`Layer`, `BaseConv`...)."""
        return class_name in self.classes or class_name in self.base_names

    def subclasses(self, class_name: str) -> list[LayerClass]:
        """Every catalogued class that is `class_name` or derives from it."""
        found = self._subclasses.get(class_name)
        if found is None:
            found = self._subclasses[class_name] = [c for c in self.classes.values() if class_name in c.bases]
        return list(found)

    def suggest(self, name: str, choices: list[str] | set[str]) -> str | None:
        close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.75)
        if not close:
            lowered = {c.lower(): c for c in choices}
            return lowered.get(name.lower())
        return close[0]

    def is_activation(self, name: str) -> bool:
        return canonical_activation(name) in self._activation_names


def canonical_activation(value: object) -> object:
    """The name an activation is compared by: swish and silu are one, None is linear."""
    if value is None:
        return "linear"
    if isinstance(value, dict):
        inner = value.get("config", value)
        if isinstance(inner, dict) and "name" in inner:
            value = inner["name"]
        elif isinstance(inner, str) and value.get("class_name") == "function":
            # A registered function serialized by name: {"class_name": "function", "config": "keras_hub>gelu_approximate"}
            value = inner.rpartition(">")[2]
        elif "class_name" in value:
            value = value["class_name"]
    if isinstance(value, str):
        lowered = value.lower()
        return ACTIVATION_ALIASES.get(lowered, lowered)
    name = getattr(value, "__name__", None)
    return canonical_activation(name) if name else value


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    text = package_path("rewrite.lang", "rewrite/lang", "catalog.json").read_text("utf-8")
    return Catalog(json.loads(text))
