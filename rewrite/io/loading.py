"""Models from the command line's MODEL argument: a .keras/.h5 file or `module:callable`, with custom objects."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from rewrite.errors import ModelLoadError
from rewrite.keras_archive import load_keras


def load_model(spec: str, custom_objects: dict | None = None, safe_mode: bool = True) -> Any:
    """A model from a .keras/.h5 path or from `module:callable` (called with no arguments)."""
    path = Path(spec)
    if path.suffix in (".keras", ".h5"):
        if not path.exists():
            raise ModelLoadError(f"model file {spec} does not exist")
        if not path.is_file():
            raise ModelLoadError(f"model file {spec} is a folder, not a .keras/.h5 file")
        if path.stat().st_size == 0:
            raise ModelLoadError(f"model file {spec} is empty (0 bytes): it was not saved whole; save the model again")
        try:
            with warnings.catch_warnings():
                # A model compiled and saved before any training step has an optimizer with
                # no slots yet; Keras warns that it cannot restore them. A rewrite compiles
                # its result with a fresh optimizer anyway, so the warning says nothing here.
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                if path.suffix == ".keras":  # the weights streamed from the archive, never whole in memory
                    return load_keras(path, custom_objects=custom_objects, safe_mode=safe_mode)
                import keras  # here: a `module:callable` model may never need it

                return keras.saving.load_model(str(path), custom_objects=custom_objects, safe_mode=safe_mode)
        except Exception as exc:
            message = f"cannot load {spec}: {type(exc).__name__}: {exc}".splitlines()[0]
            if "lambda" in str(exc).lower():
                message += (
                    ". The model has a Lambda layer: loading it runs code stored in the file, which safe mode "
                    "refuses. Pass --unsafe only if you trust where the file came from"
                )
            raise ModelLoadError(message) from exc
    if ":" in spec:
        module_name, attr = spec.split(":", 1)
        factory = getattr(_module(module_name, f"MODEL {spec}"), attr, None)
        if not callable(factory):
            raise ModelLoadError(f"`{attr}` in module `{module_name}` is not a callable that returns a model (MODEL {spec})")
        model = factory()
        import keras

        if not isinstance(model, keras.Model):
            raise ModelLoadError(f"`{spec}` returned {type(model).__name__}, not a Keras model")
        return model
    raise ModelLoadError(f"MODEL must be a .keras/.h5 file or `module:callable`. Received: {spec!r}")


def custom_objects_from(spec: str | None) -> dict | None:
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    value = getattr(_module(module_name, f"--custom-objects {spec}"), attr or "custom_objects", None)
    if value is None:
        raise ModelLoadError(f"--custom-objects {spec}: module `{module_name}` has no `{attr or 'custom_objects'}`")
    if not isinstance(value, dict):
        raise ModelLoadError(f"--custom-objects {spec} must name a dict of name -> class")
    return value


def _module(name: str, what: str) -> Any:
    """Import a module named on the command line, from the current folder too."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ModelLoadError(f"{what}: cannot import `{name}`: {exc}") from exc
