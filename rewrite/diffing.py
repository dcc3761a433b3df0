"""Two models compared layer by layer: `keras-rewrite diff A.keras B.keras`.

Layers are paired by path. For each pair: config fields old -> new, weight shapes
and the parameter delta; then the layers only one side has. Text for terminals,
markdown for a pull-request comment, JSON for tools.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rewrite.report import jsonable
from rewrite.values import show


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


def _weights(info: Any) -> dict[str, list[int]]:
    layer = info.layer
    if not layer.weights:
        return {}
    from rewrite.weights import relative_path

    return {relative_path(v, layer): list(v.shape) for v in layer.weights}


def diff_models(a: Any, b: Any, provenance_old: dict | None = None, provenance_new: dict | None = None) -> ModelDiff:
    from rewrite.graphview import build_view

    left = {p: i for p, i in build_view(a).layers.items() if i.owner is None}
    right = {p: i for p, i in build_view(b).layers.items() if i.owner is None}
    changed, added, removed = [], [], []
    for path, old in left.items():
        new = right.get(path)
        if new is None:
            removed.append(LayerDiff(path=path, class_old=old.class_name, params_old=old.params()))
            continue
        if old.is_model:
            continue  # its layers are compared one by one
        fa, fb = jsonable(old.config), jsonable(new.config)
        fields = [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k) and k != "name"]
        wa, wb = _weights(old), _weights(new)
        weights = [(k, wa.get(k), wb.get(k)) for k in sorted(set(wa) | set(wb)) if wa.get(k) != wb.get(k)]
        if fields or weights or old.class_name != new.class_name:
            changed.append(
                LayerDiff(
                    path=path, class_old=old.class_name, class_new=new.class_name, fields=fields, weights=weights,
                    params_old=old.params(), params_new=new.params(),
                )
            )
    for path, new in right.items():
        if path not in left:
            added.append(LayerDiff(path=path, class_new=new.class_name, params_new=new.params()))
    return ModelDiff(
        changed=changed, added=added, removed=removed,
        params_old=int(a.count_params()), params_new=int(b.count_params()),
        provenance_old=provenance_old, provenance_new=provenance_new,
    )


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
                out.append(f"| `{r.path}` | {cls} | {'; '.join(parts) or '-'} | {params} |")
            else:
                out.append(f"  {r.path} ({cls}) params {params}")
                out += [f"      {p}" for p in parts]
    for label, prov in (("old", d.provenance_old), ("new", d.provenance_new)):
        if prov:
            rules = ", ".join(prov.get("rules", [])) or "-"
            files = ", ".join(f["file"] for f in prov.get("rule_files", []))
            out.append(f"\n{label} model made by keras-rewrite {prov.get('version')}: rules {rules} ({files})")
    return "\n".join(out)
