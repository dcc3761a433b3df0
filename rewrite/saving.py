"""Writing models: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def save_atomic(model: Any, path: str | os.PathLike[str], provenance: dict[str, Any] | None = None) -> None:
    """Save to a temporary file beside `path`, then rename it into place.

    A failure leaves no partial file and an existing file at `path` untouched.
    """
    target = Path(path)
    if target.suffix not in (".keras", ".h5"):
        raise ValueError(f"output must end in .keras (or .h5); received {str(target)!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        model.save(tmp)
        if provenance is not None and target.suffix == ".keras":
            from rewrite.provenance import write

            write(tmp, provenance)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
