"""Which rules made a model: recorded inside the saved .keras file.

The record is one extra JSON entry in the .keras zip archive, which
`keras.models.load_model` does not read and so ignores; `keras-rewrite
show-provenance FILE` and `keras-rewrite diff` read it back.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from rewrite import __version__
from rewrite.errors import ModelLoadError
from rewrite.report.data import jsonable

ENTRY = "keras_rewrite.json"
MAX_BYTES = 1_000_000
"""The largest record read: a real one is a few KB."""


def record(ruleset: Any, params: dict[str, Any], report: Any) -> dict[str, Any]:
    """The provenance of one rewrite: rule files (with hashes), rule ids, params, changes."""

    files = []
    locations: dict[str, Path] = getattr(ruleset, "locations", {})
    sources: dict[str, str] = getattr(ruleset, "sources", {})
    root = next(iter(locations.values())).parent if locations else None
    for f in ruleset.files:
        entry: dict[str, Any] = {"file": _stored_name(f.path, locations.get(f.path), root)}
        where = locations.get(f.path)
        if where is not None and where.is_file():
            entry["sha256"] = hashlib.sha256(where.read_bytes()).hexdigest()
        elif f.path in sources:
            entry["sha256"] = hashlib.sha256(sources[f.path].encode()).hexdigest()
        files.append(entry)
    return {
        "tool": "keras-rewrite",
        "version": __version__,
        "rule_files": files,
        "rules": [r.id for r in ruleset.rules],
        "params": jsonable(params),
        "statements": [s.source for s in report.statements],
        "changed_layers": report.changed_layers,
    }


def _stored_name(shown: str, where: Path | None, root: Path | None) -> str:
    """A rule file's name in a shared model file: relative to the folder of the first
    rule file (the rule root), or the library's own name; never a home folder."""
    if where is None or root is None or shown.startswith("keras-rewrite:"):
        return shown
    return os.path.relpath(where, root).replace(os.sep, "/")


def write(archive: str | Path, data: dict[str, Any]) -> None:
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(ENTRY, json.dumps(data, indent=2, sort_keys=True))


def read(archive: str | Path) -> dict[str, Any] | None:
    """The provenance in a .keras file, or None for a model keras-rewrite did not make.

    A damaged or oversized record is a ModelLoadError: it is read whole only under
    MAX_BYTES, whatever its compressed size says.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            if ENTRY not in zf.namelist():
                return None
            size = zf.getinfo(ENTRY).file_size
            if size > MAX_BYTES:
                raise ModelLoadError(f"{archive}: its keras-rewrite record is {size:,} bytes, over {MAX_BYTES:,}: damaged, or not written by keras-rewrite")
            with zf.open(ENTRY) as entry:
                raw = entry.read(MAX_BYTES + 1)
    except zipfile.BadZipFile:
        return None
    if len(raw) > MAX_BYTES:
        raise ModelLoadError(f"{archive}: its keras-rewrite record is over {MAX_BYTES:,} bytes: damaged, or not written by keras-rewrite")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{archive}: its keras-rewrite record is damaged ({exc}); the model itself may still load") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{archive}: its keras-rewrite record is not a JSON object; damaged")
    return data
