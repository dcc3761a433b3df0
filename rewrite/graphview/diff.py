"""Two models paired layer by layer (by path): fields, weight shapes and parameter counts."""

from __future__ import annotations

from typing import Any

from rewrite.graphview.view import build_view, relative_path
from rewrite.report.data import jsonable
from rewrite.report.diff import LayerDiff, ModelDiff


def _weights(info: Any) -> dict[str, list[int]]:
    layer = info.layer
    if not layer.weights:
        return {}

    return {relative_path(v, layer): list(v.shape) for v in layer.weights}


def diff_models(a: Any, b: Any, provenance_old: dict | None = None, provenance_new: dict | None = None) -> ModelDiff:

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
