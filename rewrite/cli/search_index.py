"""What became of each variant of a search, as frozen data, and the index written from it.

A variant is written (`VariantWritten`), skipped as a duplicate of an earlier one
(`VariantDuplicate`), or failed (`VariantFailed`, from a worker process: an
exception may not survive the trip between processes, this data does).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewrite.io.provenance import record
from rewrite.io.saving import save_atomic, write_text_atomic


@dataclass(frozen=True)
class VariantWritten:
    """A variant saved to `file` in the search folder."""

    index: int
    params: dict[str, Any]
    file: str
    parameters: int
    validation: str
    max_drift: float | None
    changed_layers: int

    def row(self) -> dict[str, Any]:
        return {
            "index": self.index, "params": self.params, "file": self.file, "parameters": self.parameters,
            "validation": self.validation, "max_drift": self.max_drift, "changed_layers": self.changed_layers,
        }

    def progress(self) -> str:
        return f"{self.file}, {self.parameters:,} parameters"


@dataclass(frozen=True)
class VariantDuplicate:
    """A variant whose plan is that of an earlier one: not built, not written."""

    index: int
    params: dict[str, Any]
    duplicate_of: int

    def row(self) -> dict[str, Any]:
        return {"index": self.index, "params": self.params, "file": None, "duplicate_of": self.duplicate_of}

    def progress(self) -> str:
        return f"same model as variant {self.duplicate_of}, skipped"


@dataclass(frozen=True)
class VariantFailed:
    """A variant that could not be built, validated or saved, and why."""

    index: int
    params: dict[str, Any]
    error: str


VariantOutcome = VariantWritten | VariantDuplicate | VariantFailed


def save_variant(index: int, params: dict[str, Any], model: Any, report: Any, rules: Any, out_dir: Path) -> VariantWritten:
    """Save one built variant (whole or not at all), with its provenance."""
    name = f"variant_{index:03d}.keras"
    save_atomic(model, out_dir / name, provenance=record(rules, params, report))
    return VariantWritten(
        index=index,
        params=params,
        file=name,
        parameters=int(model.count_params()),
        validation="passed" if report.passed else "failed",
        max_drift=max((d.max_abs for d in report.drift), default=None),
        changed_layers=len(report.changed_layers),
    )


def write_index(out_dir: Path, outcomes: list[VariantWritten | VariantDuplicate]) -> None:
    """index.csv and index.json, each whole; written last, so a folder with an
    index.json holds every file it names."""
    rows = [o.row() for o in outcomes]
    names = sorted({k for r in rows for k in r["params"]})
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["index", *names, "file", "parameters", "validation", "max_drift", "duplicate_of"])
    for r in rows:
        writer.writerow([r["index"], *(r["params"].get(n) for n in names), r.get("file"), r.get("parameters"), r.get("validation"), r.get("max_drift"), r.get("duplicate_of")])
    write_text_atomic(out_dir / "index.csv", table.getvalue())
    write_text_atomic(out_dir / "index.json", json.dumps(rows, indent=2, default=str) + "\n")
