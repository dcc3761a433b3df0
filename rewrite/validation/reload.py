"""Validation's `.keras` save and reload, and the saved model it can hand on as the output.

The model is saved in Keras's unzipped `.keras` layout (a folder: config, metadata,
`model.weights.h5`, assets) and reloaded from it with `keras.saving.load_model`;
the reload must compute the same outputs and logits on the probe batch. With
`release` (`consume=True`), the model's weights are freed before the reload and the
reload must also hold every variable bit for bit (a CRC-32 each); the reload is then
the result, and the folder is kept (`ValidatedSave`): `RewriteResult.save` zips
that same folder as the output instead of saving the model a second time, while
the model still holds what was reloaded. So the file written is the one that was
reloaded and checked, and a full validation costs one save, not two.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
import weakref
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rewrite.keras_archive import load_folder, save_folder
from rewrite.report.data import CheckResult
from rewrite.validation.checks import SAVE_LOAD_ATOL, load_advice
from rewrite.validation.outputs import Outputs, compute, max_diff


def weight_checksums(model: Any) -> list[tuple[str, int]]:
    """(variable path, CRC-32 of its bytes) of every variable, in order: a model's weights in a few bytes."""
    sums = []
    for v in model.weights:
        raw: Any = np.ascontiguousarray(v.numpy()).reshape(-1).view(np.uint8)  # the bytes, not a copy
        sums.append((v.path, zlib.crc32(raw)))
    return sums


def _config_text(model: Any) -> str:
    """The model's serialized config (layers, connections, compile config) as one string."""
    return json.dumps(keras.saving.serialize_keras_object(model), sort_keys=True, default=repr)


class ValidatedSave:
    """The `.keras` folder a result was reloaded from, with what the reload held.

    `holds(model)` is True while `model` still has that config and every variable's
    CRC-32; only then is the folder written as the model's file. The folder is
    removed when this object is collected (or at exit), or by `discard()`.
    """

    def __init__(self, tmp: str, folder: Path, sums: list[tuple[str, int]], config: str):
        self.folder = folder
        self.sums = sums
        self.config = config
        self._remove = weakref.finalize(self, shutil.rmtree, tmp, True)

    def holds(self, model: Any) -> bool:
        if not self._remove.alive or not self.folder.is_dir():
            return False
        try:
            return _config_text(model) == self.config and weight_checksums(model) == self.sums
        except Exception:  # a model that no longer serializes is saved the ordinary way, which says why
            return False

    def discard(self) -> None:
        self._remove()


def _failed(detail: str, round_trip: CheckResult | None = None) -> tuple[CheckResult, CheckResult]:
    """A failed save/load check; the round trip fails with it unless the model did load (`round_trip`)."""
    failed = CheckResult(kind="save-load", name="save/load .keras", status="failed", detail=detail)
    return failed, round_trip or CheckResult(kind="config-round-trip", name="config round trip", status="failed", detail=detail)


def save_and_reload(
    model: Any,
    x: Any,
    expected: Outputs,
    custom_objects: dict | None,
    safe_mode: bool,
    release: Callable[[], None] | None = None,
) -> tuple[CheckResult, CheckResult, Any | None, ValidatedSave | None]:
    """(.keras save/load check, config round-trip check implied by the load, the reloaded model, the kept folder).

    With `release`, the model's weights are summed (a CRC-32 per variable) once it
    is saved, `release()` frees them, and the reloaded model must hold the same
    sums as well as compute `expected`: the model and its reload are never in
    memory together. The reload then keeps its compile config (a fresh optimizer),
    and, if it passes, the folder it came from is returned to be written as the file.
    """
    tmp = tempfile.mkdtemp(prefix="keras-rewrite-")
    folder = Path(tmp) / "model"
    kept: ValidatedSave | None = None
    try:
        sums: list[tuple[str, int]] | None = None
        try:
            save_folder(model, folder)
            if release is not None:
                sums = weight_checksums(model)
                release()
            with warnings.catch_warnings():
                # A fresh optimizer has no slots to restore; Keras warns that it skips them.
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                loaded = load_folder(folder, custom_objects=custom_objects, safe_mode=safe_mode, compile=release is not None)
        except Exception as exc:
            return (*_failed(load_advice(exc)), None, None)
        how = "get_config -> from_config, through the .keras load (safe mode)" if safe_mode else "through the .keras load (safe mode off)"
        round_trip = CheckResult(kind="config-round-trip", name="config round trip", status="passed", detail=how)
        got = compute(loaded, x)
        worst = 0.0
        for kind, left, right in (("outputs", expected.outputs, got.outputs), ("logits", expected.logits, got.logits)):
            for name, a in left.items():
                b = right.get(name)
                if b is None:
                    implied = round_trip.model_copy(update={"detail": "implied by the .keras load"})
                    return (*_failed(f"reloaded model lacks {kind} `{name}`", implied), loaded, None)
                worst = max(worst, max_diff(a, b)[0])
        if worst > SAVE_LOAD_ATOL:
            return (*_failed(f"reloaded model differs from memory by {worst:.3g}", round_trip), loaded, None)
        matches = f"reloaded outputs and logits match (max diff {worst:.3g})"
        if sums is not None:
            reloaded = weight_checksums(loaded)
            wrong = [p for (p, a), (_, b) in zip(sums, reloaded) if a != b]
            if len(reloaded) != len(sums) or wrong:
                detail = f"reloaded weights differ from the validated model's: {', '.join(wrong[:5]) or f'{len(reloaded)} variables, not {len(sums)}'}"
                return (*_failed(detail, round_trip), loaded, None)
            matches += f"; {len(sums)} variables reloaded bit for bit (CRC-32 each)"
            kept = ValidatedSave(tmp, folder, reloaded, _config_text(loaded))
        passed = CheckResult(kind="save-load", name="save/load .keras", status="passed", detail=matches)
        return passed, round_trip, loaded, kept
    finally:
        if kept is None:
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["ValidatedSave", "save_and_reload", "weight_checksums"]
