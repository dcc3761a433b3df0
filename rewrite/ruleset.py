"""`RuleSet`: checked rule files that apply to models, and the functions that load them.

Loading and checking import no Keras (they live in `rewrite.lang`); `apply` and
`plan` hand over to the engine, which is imported on first use for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from rewrite.lang.loader import CheckedRules, collect_rules, load_rules, rules_from_text
from rewrite.options import ApplyOptions, checked

if TYPE_CHECKING:
    from rewrite.report.rewrite_report import RewriteReport
    from rewrite.result import RewriteResult


@dataclass
class RuleSet(CheckedRules):
    r"""Everything a set of rule files says, in file order, checked.

    Made by [`load`][rewrite.load], [`collect`][rewrite.collect] or
    [`from_text`][rewrite.from_text]; apply it to as many models, with as many
    parameter values, as you like.

    Examples:
        >>> rules = rewrite.from_text("param act = tanh in [tanh, gelu]\nDense.activation := $act")
        >>> rules.grid()
        [{'act': 'tanh'}, {'act': 'gelu'}]
        >>> rules.apply(model, params={"act": "gelu"}).model.get_layer("out").activation.__name__
        'gelu'
    """

    def apply(self, model: Any, **options: Unpack[ApplyOptions]) -> RewriteResult:
        """Rewrite `model` with these rules; the options are those of [`rewrite.apply`][rewrite.apply]."""
        from rewrite.engine import run  # the engine imports Keras; loading rules must not

        return run(self, model, **checked("RuleSet.apply", dict(options)))

    def plan(self, model: Any, params: dict[str, Any] | None = None, *, strict: bool = False) -> RewriteReport:
        """A dry run: what each statement matches and would change, and near misses."""
        from rewrite.engine import dry_run  # the engine imports Keras; loading rules must not

        return dry_run(self, model, params=params, strict=strict)

    def __repr__(self) -> str:
        files = ", ".join(f.path for f in self.files[:3]) + (" ..." if len(self.files) > 3 else "")
        params = f", params {', '.join(self.params)}" if self.params else ""
        return f"<RuleSet {files or 'empty'}: {len(self.statements)} statement(s){params}>"


def load(*paths: str | Path) -> RuleSet:
    """Load, resolve and check rule files; raise on any error, keep warnings.

    `use` lines are followed relative to the including file; a path that starts
    with `keras-rewrite:` names a ready-made rule shipped with the package.

    Raises:
        RuleSyntaxError: A file does not parse.
        RuleCheckError: A file names an unknown class, field or parameter.

    Examples:
        >>> rules = rewrite.load("keras-rewrite:std/fold-bn.rw")
        >>> [rule.id for rule in rules.rules]
        ['fold-bn']
    """
    return load_rules(RuleSet, *paths)


def collect(*paths: str | Path) -> RuleSet:
    r"""Like [`load`][rewrite.load], but errors stay in `diagnostics` instead of being raised.

    Examples:
        >>> _ = Path("bad.rw").write_text("Dense.units := $width\n")
        >>> [d.code for d in rewrite.collect("bad.rw").errors]
        ['unknown-param']
    """
    return collect_rules(RuleSet, *paths)


def from_text(text: str, file: str = "<string>") -> RuleSet:
    """A checked rule set from rule text (no `use` of relative files).

    Examples:
        >>> rules = rewrite.from_text('Dropout.rate := 0.1')
        >>> len(rules.statements)
        1
    """
    return rules_from_text(RuleSet, text, file)


__all__ = ["RuleSet", "collect", "from_text", "load"]
