"""The result of a rewrite: the model and the report that proves what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewrite.errors import RewriteError
from rewrite.io.saving import save_atomic
from rewrite.report.rewrite_report import RewriteReport

if TYPE_CHECKING:  # validation imports Keras, which importing the result must not
    from rewrite.validation.reload import ValidatedSave


@dataclass(frozen=True)
class RewriteResult:
    """The rewritten model and the report that proves what changed."""

    model: Any
    report: RewriteReport
    provenance: dict[str, Any] | None = None
    """Which rule files, rules and params made the model; saved inside the .keras file."""
    validated_save: ValidatedSave | None = field(default=None, repr=False, compare=False)
    """With `consume=True` and full validation: the saved `.keras` folder the model was
    reloaded from. `save()` writes that folder as the file while the model still holds
    what was reloaded (same config, every variable's CRC-32), instead of saving again."""

    def save(self, path: str, replace: bool = True) -> None:
        """Save the model as .keras, atomically: the file is whole or not there.

        The provenance goes into the archive too; `keras.models.load_model` ignores it.
        A result whose report says a reload would lose a change (made with
        `in_memory=True`) is refused: the file would not hold what the report shows.
        `replace=False` refuses to replace an existing file, even one created while
        the rewrite ran. After a full validation with `consume=True`, the file is the
        one validation reloaded and checked (see `validated_save`).
        """
        if self.report.lost_on_save:
            raise RewriteError(
                f"this result lives in memory only: a save and reload would lose {len(self.report.lost_on_save)} "
                f"change(s): {'; '.join(self.report.lost_on_save[:3])}. Nothing was written. For a file that keeps "
                "the change, rewrite in clone mode a model whose config carries it (a Functional or Sequential model)"
            )
        kept = self.validated_save
        folder = kept.folder if kept is not None and Path(path).suffix == ".keras" and kept.holds(self.model) else None
        save_atomic(self.model, path, provenance=self.provenance, replace=replace, saved=folder)

    def _repr_html_(self) -> str:
        return self.report.to_html()

    def __repr__(self) -> str:
        name = getattr(self.model, "name", "?")
        return f"<RewriteResult model={name!r} ({type(self.model).__name__}) {self.report!r}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self) if cycle else f"{self.report.render()}\nmodel: {getattr(self.model, 'name', '?')}")
