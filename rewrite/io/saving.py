"""Writing files: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewrite.io.provenance import write


def _write_atomic(target: Path, write: Callable[[str], object]) -> None:
    """`write(tmp)` to a temporary file beside `target`, then rename it into place.

    A failure leaves no partial file and an existing file at `target` untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_atomic(model: Any, path: str | os.PathLike[str], provenance: dict[str, Any] | None = None) -> None:
    """Save `model` to `path` (.keras or .h5), whole or not at all, with its provenance."""
    target = Path(path)
    if target.suffix not in (".keras", ".h5"):
        raise ValueError(f"output must end in .keras (or .h5); received {str(target)!r}")

    def save(tmp: str) -> None:
        model.save(tmp)
        if provenance is not None and target.suffix == ".keras":

            write(tmp, provenance)

    _write_atomic(target, save)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path`, whole or not at all."""
    _write_atomic(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline=""))
