"""Which rules made a model: recorded inside the saved .keras file.

The record is one extra JSON entry in the .keras zip archive, which
`keras.models.load_model` does not read and so ignores; `keras-rewrite
show-provenance FILE` and `keras-rewrite diff` read it back.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from rewrite import __version__
from rewrite.report.data import jsonable

ENTRY = "keras_rewrite.json"


def record(ruleset: Any, params: dict[str, Any], report: Any) -> dict[str, Any]:
    """The provenance of one rewrite: rule files (with hashes), rule ids, params, changes."""

    files = []
    for f in ruleset.files:
        entry: dict[str, Any] = {"file": f.path}
        path = Path(f.path)
        if path.is_file():
            entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
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


def write(archive: str | Path, data: dict[str, Any]) -> None:
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(ENTRY, json.dumps(data, indent=2, sort_keys=True))


def read(archive: str | Path) -> dict[str, Any] | None:
    """The provenance in a .keras file, or None for a model keras-rewrite did not make."""
    try:
        with zipfile.ZipFile(archive) as zf:
            if ENTRY not in zf.namelist():
                return None
            data: dict[str, Any] = json.loads(zf.read(ENTRY))
            return data
    except zipfile.BadZipFile:
        return None
