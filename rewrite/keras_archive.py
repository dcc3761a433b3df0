"""`.keras` files written and read without holding the weights file in memory.

Keras's own `model.save("m.keras")` builds the weights file (`model.weights.h5`)
in memory, whole, before it goes into the zip archive, and `keras.saving.load_model`
reads it back into memory whole before the first variable is assigned: for a
model of N bytes of weights, N more bytes at the peak on each side. Keras's public
saving API also writes and reads the same layout as an unzipped folder
(`keras.saving.save_model(model, folder, zipped=False)`, `keras.saving.load_model(folder)`),
where h5py writes and reads one variable at a time straight to and from disk.

So `save_keras` saves the folder (`save_folder`) and packs it into the archive,
and `load_keras` unpacks the archive into a folder and loads that (`load_folder`);
the members are copied in chunks (the weights stored, not compressed, as Keras
stores them), so the weights file is never in memory. Full validation reloads
the folder it saved and packs that same folder as the output file, so the file
written is the one that was reloaded and checked, and it is written once. The
archive has the members, names and layout Keras writes, and
`keras.saving.load_model` reads it; `load_keras` gives the model
`keras.saving.load_model` gives, bit for bit.

What remains is Keras's: loading builds every layer with its initializer before
the saved values are assigned, so the loaded model's own variables and one
variable's value in transit are the floor (docs/benchmarks.md has the figures).

This module is a leaf (it imports nothing of the package), so the command line's
loading, the atomic save and validation's save and reload share it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

CHUNK = 16 << 20
"""Bytes copied at a time between the archive and the folder (zipfile's own 8 KB
costs a CRC-32 and a write call per 8 KB: 1.5-2x slower on a 1 GB member)."""

KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5", "model.weights.npz")
ASSETS = "assets"
MAX_EXPANSION = 1000
"""A member that unpacks to more than this many times its stored size (and over 1 MB) is refused."""


def save_keras(model: Any, path: str | os.PathLike[str]) -> None:
    """Save `model` to the `.keras` file `path` the way `model.save(path)` does, streaming the weights.

    Examples:
        >>> save_keras(model, "m.keras")
        >>> keras.saving.load_model("m.keras").name == model.name
        True
    """
    target = Path(path)
    with tempfile.TemporaryDirectory(prefix=".keras-save-", dir=target.parent) as tmp:
        folder = Path(tmp) / "model"
        save_folder(model, folder)
        pack(folder, target)


def save_folder(model: Any, folder: str | os.PathLike[str]) -> None:
    """Save `model` as Keras's unzipped `.keras` layout in `folder` (created; h5py writes a variable at a time)."""
    # Keras is imported here: this leaf module is imported by code that must not pay for it.
    import keras

    keras.saving.save_model(model, str(folder), zipped=False)


def load_folder(
    folder: str | os.PathLike[str], custom_objects: dict[str, Any] | None = None, compile: bool = True, safe_mode: bool = True
) -> Any:
    """The model `save_folder` saved in `folder`, through `keras.saving.load_model`."""
    # Keras is imported here: this leaf module is imported by code that must not pay for it.
    import keras

    return keras.saving.load_model(str(folder), custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def pack(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Zip a Keras model folder into the archive `path`: Keras's members first, then the assets.

    Each member is copied in `CHUNK`s; the archive must list every file at the
    size it has in the folder, or this raises OSError.
    """
    root = Path(folder)
    files = [(root / name, name) for name in KERAS_MEMBERS if (root / name).is_file()]
    assets = root / ASSETS
    if assets.is_dir():  # files only, as Keras's archives list them
        files += [(file, file.relative_to(root).as_posix()) for file in sorted(p for p in assets.rglob("*") if p.is_file())]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for file, name in files:
            info = zipfile.ZipInfo.from_file(file, name)
            with open(file, "rb") as source, zf.open(info, "w", force_zip64=info.file_size > 2**31) as sink:
                shutil.copyfileobj(source, sink, CHUNK)
    with zipfile.ZipFile(path) as zf:
        listed = {info.filename: info.file_size for info in zf.infolist()}
    short = [name for file, name in files if listed.get(name) != file.stat().st_size]
    if short:
        raise OSError(f"{path}: the archive does not hold {', '.join(short)} whole; it was not written completely")


def unpack(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> None:
    """Copy the Keras members of the archive `path` into `folder`, in chunks.

    Only Keras's own members are copied (a keras-rewrite provenance record stays
    behind); a member that would land outside `folder`, or that unpacks to far
    more than it stores, is refused.
    """
    root = Path(folder)
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename
            parts = PurePosixPath(name).parts
            if name not in KERAS_MEMBERS and not (parts and parts[0] == ASSETS):
                continue
            if PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
                raise ValueError(f"{path}: the archive member `{name}` points outside the model's folder; refusing to unpack it")
            if info.file_size > 2**20 and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
                raise ValueError(f"{path}: the archive member `{name}` unpacks to {info.file_size:,} bytes from {info.compress_size:,}; refusing it")
            destination = root.joinpath(*parts)
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink, CHUNK)


def load_keras(
    path: str | os.PathLike[str], custom_objects: dict[str, Any] | None = None, compile: bool = True, safe_mode: bool = True
) -> Any:
    """The model in the `.keras` file `path`, as `keras.saving.load_model` returns it, the weights streamed.

    An archive that is not Keras's zip layout goes to `keras.saving.load_model`
    as it is, so its errors are Keras's.

    Examples:
        >>> restored = load_keras("m.keras")
        >>> [v.path for v in restored.weights] == [v.path for v in model.weights]
        True
    """
    # Keras is imported here: this leaf module is imported by code that must not pay for it.
    import keras

    if not zipfile.is_zipfile(path):
        return keras.saving.load_model(str(path), custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    with tempfile.TemporaryDirectory(prefix="keras-load-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        unpack(path, folder)
        if not (folder / "config.json").is_file():
            return keras.saving.load_model(str(path), custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
        return load_folder(folder, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


__all__ = ["load_folder", "load_keras", "pack", "save_folder", "save_keras", "unpack"]
