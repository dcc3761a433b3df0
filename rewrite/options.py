"""The options of a rewrite, typed once for `rewrite.apply`, `RuleSet.apply` and the engine.

`ApplyOptions` is what type checkers and IDEs read (`**options: Unpack[ApplyOptions]`);
`checked` turns a misspelt option into a TypeError that names the public function
and the options it takes, before any work.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, TypedDict

from rewrite.modes import Level, Mode
from rewrite.progress import Progress

if TYPE_CHECKING:
    from rewrite.engine import ModelCache


class ApplyOptions(TypedDict, total=False):
    """Every option of a rewrite; each is optional.

    - `params`: parameter values (the declared defaults fill in the rest).
    - `mode`: `"clone"` (default) or `"inplace"`.
    - `validate`: `"full"` (default), `"config"` or `"none"`.
    - `strict`: a statement that matches nothing is an error.
    - `probe`: the input batch for validation and drift (made from the model's inputs if not given).
    - `evaluate`: `(x, y)`: evaluate both models on them.
    - `custom_objects`, `safe_mode`: for the `.keras` reload.
    - `drift`: measure the output drift whatever `validate` is.
    - `in_memory`: the result stays in this process: a change a save would lose is
      reported, not failed, and `result.save()` refuses.
    - `consume`: in clone mode, the rewrite frees the input model's weights once it no
      longer needs them (before the reload of full validation, whose model is then the
      result): at most one copy of the weights is held. The input model cannot be used
      afterwards; the report's notes say so. A failed in-memory check frees nothing.
    - `progress`: True draws a progress bar (terminal or Jupyter); a `Progress` is drawn on.
    - `cache`: a `rewrite.engine.ModelCache` of the model, shared by many rewrites of it
      (architecture search): the graph, the probe and the configs are made once.
    """

    params: dict[str, Any] | None
    mode: Mode
    validate: Level
    strict: bool
    probe: Any
    evaluate: tuple[Any, Any] | None
    custom_objects: dict[str, Any] | None
    safe_mode: bool
    drift: bool
    in_memory: bool
    consume: bool
    progress: bool | Progress | None
    cache: ModelCache | None


OPTION_NAMES = tuple(ApplyOptions.__annotations__)


def checked(function: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` when every name is an option; else a TypeError naming `function` and the options."""
    for name in options:
        if name not in OPTION_NAMES:
            close = difflib.get_close_matches(name, OPTION_NAMES, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise TypeError(
                f"{function}() got an unexpected option `{name}`{hint} Its options: {', '.join(OPTION_NAMES)}"
            )
    return options
