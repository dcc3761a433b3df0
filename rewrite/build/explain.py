"""What the build stage says when a model cannot come back as it was: why a layer does
not rebuild from its config, and what a Functional subclass gives up as a plain model."""

from __future__ import annotations

from typing import Any

from rewrite.errors import root_cause


def rebuild_failure(path: str, layer: Any, exc: Exception) -> str:
    """Why a layer cannot be rebuilt from its config, and what would make it work."""
    cause = root_cause(exc)
    name = type(layer).__name__
    if "unexpected keyword argument" in cause:
        advice = (
            f"`{name}.__init__` takes no `**kwargs`, so it cannot take back the name, trainable and dtype Keras "
            "keeps in every config: add `**kwargs` to it and pass them to `super().__init__(**kwargs)`"
        )
    elif "missing" in cause and "required" in cause:
        advice = f"`{name}.get_config()` leaves out an argument its constructor needs: return every constructor argument from it"
    elif isinstance(exc, NotImplementedError) or "get_config" in cause:
        advice = f"`{name}` has no `get_config()`: add one that returns its constructor arguments"
    else:
        advice = f"check that `{name}.get_config()` returns what `{name}.__init__` takes"
    return (
        f"cannot rebuild layer `{path}` ({name}) from its config: {cause}. {advice}. "
        "Clone mode rebuilds every layer from its config; mode='inplace' sets fields on the existing layers instead"
    )


def given_up(old: Any, new: Any) -> str:
    """What a Functional subclass loses when it comes back as a plain model: its class,
    the methods it adds, its preprocessor; and what keeps them."""
    base = type(new)
    added = sorted(
        {
            name
            for cls in type(old).__mro__
            if cls not in base.__mro__
            for name, value in vars(cls).items()
            if not name.startswith("_") and not hasattr(base, name) and (callable(value) or isinstance(value, property))
        }
    )
    shown = ", ".join(f"`{n}`" for n in added[:8]) + (f" and {len(added) - 8} more" if len(added) > 8 else "")
    parts = [
        f"the model was a {type(old).__name__}; it comes back as {base.__name__} with the same layers and weights "
        "(a Functional subclass whose constructor does not take (inputs, outputs) cannot be rebuilt as itself)"
    ]
    if added:
        parts.append(f"given up with the class: {shown}")
    preprocessor = getattr(old, "preprocessor", None)
    if preprocessor is not None:
        parts.append(
            f"its preprocessor ({type(preprocessor).__name__}) is not part of the result: run "
            "`original.preprocessor(x)` and pass what it returns to the result"
        )
    parts.append("mode='inplace' keeps the class, where the change can be made on the existing layers")
    return "; ".join(parts)
