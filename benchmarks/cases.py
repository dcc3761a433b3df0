"""The benchmark cases: a model, a rule, and the same edit written by hand.

Keras is imported only when a case runs, so `--help` is instant.

The hand-written side is what a user writes without keras-rewrite: a
`clone_model` clone function that rebuilds every layer from its config, changing
the activation of the layers the rule would select, then a per-layer
`set_weights(get_weights())` loop paired by layer name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    key: str
    """Command-line name (`--models`)."""
    build: Callable[[], Any]
    rule: str
    selects: Callable[[Any, dict[str, Any]], bool]
    """Whether the hand-written clone function edits this layer (given its config)."""
    edit: dict[str, Any]
    """The fields the edit sets on a selected layer."""

    def clone_function(self) -> tuple[Callable[[Any], Any], list[str]]:
        """A clone function for `clone_model`, and the list it appends edited layer names to."""
        edited: list[str] = []

        def clone(layer: Any) -> Any:
            config = layer.get_config()
            if self.selects(layer, config):
                config.update(self.edit)
                edited.append(layer.name)
            return layer.__class__.from_config(config)

        return clone, edited


def baseline(model: Any, case: Case) -> tuple[Any, list[str]]:
    """B: clone_model with a hand-written clone function, then copy weights layer by layer."""
    import keras

    clone, edited = case.clone_function()
    new_model = keras.models.clone_model(model, clone_function=clone)
    new_layers = {layer.name: layer for layer in new_model.layers}
    for old_layer in model.layers:
        new_layer = new_layers.get(old_layer.name)
        if new_layer is None:
            # clone_model renames the InputLayer; it has no weights
            if old_layer.weights:
                raise RuntimeError(f"baseline: no layer `{old_layer.name}` in the clone")
            continue
        new_layer.set_weights(old_layer.get_weights())
    return new_model, edited


# ------------------------------------------------------------------ selections


def _relu_activation(layer: Any, config: dict[str, Any]) -> bool:
    import keras

    return isinstance(layer, keras.layers.Activation) and config.get("activation") == "relu"


def _swish_layer(layer: Any, config: dict[str, Any]) -> bool:
    import keras

    classes = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Activation)
    # Keras 3 serializes swish as "silu"; the rule language treats the two as one
    return isinstance(layer, classes) and config.get("activation") in ("swish", "silu")


def _predictions(layer: Any, config: dict[str, Any]) -> bool:
    import keras

    return isinstance(layer, keras.layers.Dense) and layer.name == "predictions"


# ------------------------------------------------------------------ models


def tiny_model() -> Any:
    """A small functional model with something for each of the three rules (for --quick)."""
    import keras

    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="swish", name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="swish", name="dw")(x)
    y = keras.layers.Activation("swish", name="dw_swish")(y)
    x = keras.layers.Add(name="skip")([x, y])
    x = keras.layers.Conv2D(16, 1, name="project")(x)
    x = keras.layers.Activation("relu", name="project_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


def _application(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import keras

        return getattr(keras.applications, name)(weights=None)

    build.__name__ = f"build_{name}"
    return build


CASES: dict[str, Case] = {
    "resnet50": Case(
        key="resnet50",
        build=_application("ResNet50"),
        rule="Activation[activation = relu].activation := gelu",
        selects=_relu_activation,
        edit={"activation": "gelu"},
    ),
    "mobilenetv2": Case(
        key="mobilenetv2",
        build=_application("MobileNetV2"),
        rule='Dense[name = "predictions"].activation := linear',
        selects=_predictions,
        edit={"activation": "linear"},
    ),
    "efficientnetb0": Case(
        key="efficientnetb0",
        build=_application("EfficientNetB0"),
        rule="(Conv2D | DepthwiseConv2D | Activation)[activation = swish].activation := gelu",
        selects=_swish_layer,
        edit={"activation": "gelu"},
    ),
}
