"""Two models compared layer by layer, as data, and laid out as text, markdown or JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rewrite.lang.expressions import show


class LayerDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    class_old: str | None = None
    class_new: str | None = None
    fields: list[tuple[str, Any, Any]] = Field(default_factory=list)
    weights: list[tuple[str, list[int] | None, list[int] | None]] = Field(default_factory=list)
    params_old: int = 0
    params_new: int = 0


class ModelDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    changed: list[LayerDiff] = Field(default_factory=list)
    added: list[LayerDiff] = Field(default_factory=list)
    removed: list[LayerDiff] = Field(default_factory=list)
    params_old: int = 0
    params_new: int = 0
    provenance_old: dict[str, Any] | None = None
    provenance_new: dict[str, Any] | None = None


def _delta(old: int, new: int) -> str:
    return f"{new - old:+,}"


def render(d: ModelDiff, fmt: str = "text") -> str:
    if fmt == "json":
        return d.model_dump_json(indent=2)
    md = fmt == "markdown"
    out: list[str] = []
    head = f"parameters: {d.params_old:,} -> {d.params_new:,} ({_delta(d.params_old, d.params_new)})"
    out.append(f"### Model diff\n\n{head}\n" if md else head)
    if not (d.changed or d.added or d.removed):
        out.append("no layer differs")
    for title, rows in (("changed", d.changed), ("added", d.added), ("removed", d.removed)):
        if not rows:
            continue
        if md:
            out.append(f"\n**{title}**\n\n| layer | class | change | params |\n| --- | --- | --- | --- |")
        else:
            out.append(f"\n{title}:")
        for r in rows:
            cls = r.class_old if r.class_old == r.class_new or not r.class_new else (r.class_new if not r.class_old else f"{r.class_old} -> {r.class_new}")
            parts = [f"{k}: {show(o)} -> {show(n)}" for k, o, n in r.fields]
            parts += [f"{k} {o} -> {n}" for k, o, n in r.weights]
            params = _delta(r.params_old, r.params_new)
            if md:
                out.append(f"| {markdown_cell(r.path)} | {markdown_cell(cls)} | {markdown_cell('; '.join(parts) or '-')} | {params} |")
            else:
                out.append(f"  {r.path} ({cls}) params {params}")
                out += [f"      {p}" for p in parts]
    for label, prov in (("old", d.provenance_old), ("new", d.provenance_new)):
        if prov:
            rules = ", ".join(prov.get("rules", [])) or "-"
            files = ", ".join(f["file"] for f in prov.get("rule_files", []))
            out.append(f"\n{label} model made by keras-rewrite {prov.get('version')}: rules {rules} ({files})")
    return "\n".join(out)


_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]()<>#+!|~"})


def markdown_cell(text: object) -> str:
    """`text` in a markdown table cell, as text: every markup character escaped, no line breaks."""
    return " ".join(str(text).split()).translate(_MARKDOWN_SPECIAL)
