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
    undo: str = ""
    """A rule that puts the edited fields back (for in-place runs on the same model)."""
    application: bool = True
    """A keras.applications model (the speed and validation targets are stated for those)."""

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


def _gelu_activation(layer: Any, config: dict[str, Any]) -> bool:
    import keras

    return isinstance(layer, keras.layers.Activation) and config.get("activation") == "gelu"


def _relu_dense(layer: Any, config: dict[str, Any]) -> bool:
    import keras

    return isinstance(layer, keras.layers.Dense) and config.get("activation") == "relu"


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


def transformer_stack(blocks: int = 24, seq: int = 32, width: int = 64, heads: int = 4) -> Any:
    """A transformer encoder built from Keras layers: per block, self-attention, a residual
    Add and LayerNormalization, then a two-layer ReLU feed-forward with its own residual."""
    import keras

    inputs = keras.Input((seq, width), name="tokens")
    x = inputs
    for i in range(blocks):
        a = keras.layers.MultiHeadAttention(heads, width // heads, name=f"block{i}_mha")(x, x)
        x = keras.layers.LayerNormalization(name=f"block{i}_ln1")(keras.layers.Add(name=f"block{i}_res1")([x, a]))
        f = keras.layers.Dense(2 * width, activation="relu", name=f"block{i}_ff1")(x)
        f = keras.layers.Dense(width, name=f"block{i}_ff2")(f)
        x = keras.layers.LayerNormalization(name=f"block{i}_ln2")(keras.layers.Add(name=f"block{i}_res2")([x, f]))
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"transformer{blocks}")


def deep_graph(layers: int, width: int = 4) -> Any:
    """A synthetic residual chain of about `layers` layers: Dense(relu) + Add per block,
    every Add joining the block's input (a skip connection), and every 10th block also
    adding the output of the block 10 back (a long skip). Narrow, so it builds quickly."""
    import keras

    inputs = keras.Input((width,), name="x")
    h = inputs
    checkpoints = [h]
    for i in range((layers - 2) // 2):
        f = keras.layers.Dense(width, activation="relu", name=f"fc{i}")(h)
        joined = [h, f] if i % 10 or i == 0 else [h, f, checkpoints[-1]]
        h = keras.layers.Add(name=f"add{i}")(joined)
        if i % 10 == 0:
            checkpoints.append(h)
    outputs = keras.layers.Dense(2, name="head")(h)
    return keras.Model(inputs, outputs, name=f"deep{layers}")


def tiny_transformer() -> Any:
    return transformer_stack(blocks=2, seq=8, width=16, heads=2)


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
        undo='Activation[activation = gelu].activation := relu',
        selects=_relu_activation,
        edit={"activation": "gelu"},
    ),
    "mobilenetv2": Case(
        key="mobilenetv2",
        build=_application("MobileNetV2"),
        rule='Dense[name = "predictions"].activation := linear',
        undo='Dense[name = "predictions"].activation := softmax',
        selects=_predictions,
        edit={"activation": "linear"},
    ),
    "efficientnetb0": Case(
        key="efficientnetb0",
        build=_application("EfficientNetB0"),
        rule="(Conv2D | DepthwiseConv2D | Activation)[activation = swish].activation := gelu",
        undo='(Conv2D | DepthwiseConv2D | Activation)[activation = gelu].activation := swish',
        selects=_swish_layer,
        edit={"activation": "gelu"},
    ),
    "densenet121": Case(
        key="densenet121",
        build=_application("DenseNet121"),
        rule="Activation[activation = relu].activation := gelu",
        undo='Activation[activation = gelu].activation := relu',
        selects=_relu_activation,
        edit={"activation": "gelu"},
    ),
    "convnexttiny": Case(
        key="convnexttiny",
        build=_application("ConvNeXtTiny"),
        rule="Activation[activation = gelu].activation := relu",
        undo='Activation[activation = relu].activation := gelu',
        selects=_gelu_activation,
        edit={"activation": "relu"},
    ),
    "transformer24": Case(
        key="transformer24",
        build=transformer_stack,
        rule="Dense[activation = relu].activation := gelu",
        undo='Dense[activation = gelu].activation := relu',
        selects=_relu_dense,
        edit={"activation": "gelu"},
        application=False,
    ),
}

DEEP_RULE = "Dense[activation = relu].activation := gelu"
"""The rule of the scaling benchmark: half the layers of a deep graph change."""

DEEP_CASE = Case(
    key="deep",
    build=lambda: None,
    rule=DEEP_RULE,
    undo="Dense[activation = gelu].activation := relu",
    selects=_relu_dense,
    edit={"activation": "gelu"},
    application=False,
)
