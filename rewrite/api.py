"""The public functions: apply, plan, check, graph and draw.

`rewrite/__init__.py` re-exports them. Keras is imported only by the functions
that need a model (apply, plan, graph, draw), on first use, so that importing
the package and checking rule files stay free of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import Unpack

from rewrite.errors import Diagnostic, RuleCheckError, RuleSyntaxError
from rewrite.lang.loader import LIBRARY_PREFIX
from rewrite.options import ApplyOptions, checked
from rewrite.report.rewrite_report import RewriteReport
from rewrite.result import RewriteResult
from rewrite.ruleset import RuleSet, collect, from_text, load

if TYPE_CHECKING:
    import networkx as nx

    from rewrite.picture.draw import Picture
    from rewrite.picture.style import Engine


def _ruleset(rules: str | Path | RuleSet) -> RuleSet:
    """Rule text, or a rule file: a Path, a `.rw` path, or `keras-rewrite:std/NAME.rw`."""
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, Path):
        return load(rules)
    one_line = "\n" not in rules and ";" not in rules
    if one_line and (rules.startswith(LIBRARY_PREFIX) or rules.strip().endswith(".rw")):
        return load(rules.strip())
    return from_text(str(rules))


def apply(model: Any, rules: str | Path | RuleSet, **options: Unpack[ApplyOptions]) -> RewriteResult:
    """Rewrite `model` with rule text, a `.rw` path, or a loaded RuleSet.

    The input model is never changed in clone mode (the default): the result holds
    a new model with every weight that still fits carried over, validated, and a
    report of what changed and how far the outputs moved.

    Args:
        model: A Keras model (Functional or Sequential, nested models included).
        rules: Rule text, the path of a `.rw` file, or a [`RuleSet`][rewrite.RuleSet].
        **options: Keyword options, typed in [`ApplyOptions`][rewrite.ApplyOptions]:
            `params` (dict of parameter values), `mode` (`"clone"` or
            `"inplace"`), `validate` (`"full"`, `"config"` or `"none"`), `strict`
            (a statement that matches nothing is an error), `probe` (the input
            batch for validation and drift), `evaluate` (`(x, y)`: evaluate both
            models), `custom_objects` and `safe_mode` (for the `.keras` reload),
            `drift` (measure the output drift whatever `validate` is), `in_memory` (the
            result stays in this process: a change a save would lose is reported, not
            failed, and `result.save()` refuses), `progress` (True: a progress bar),
            `cache` (a [`ModelCache`][rewrite.engine.ModelCache] shared by many rewrites of
            one model). A misspelt option is a TypeError that lists them.

    Returns:
        The new model and its report.

    Raises:
        RuleSyntaxError: The rule text does not parse.
        RuleCheckError: The rules name an unknown class, field or parameter.
        ValidationFailure: A validation check failed; `.report` says which.

    Examples:
        >>> result = rewrite.apply(model, 'Dense[name ~ "fc*"].activation := tanh')
        >>> result.report.passed
        True
        >>> [c.layer for c in result.report.changes]
        ['fc1', 'fc2']
    """
    return _ruleset(rules).apply(model, **checked("apply", dict(options)))  # type: ignore[arg-type]


def plan(model: Any, rules: str | Path | RuleSet, params: dict[str, Any] | None = None, *, strict: bool = False) -> RewriteReport:
    """A dry run: matches, would-be changes and near misses, without building a model.

    Examples:
        >>> report = rewrite.plan(model, 'Dense[units >= 12].activation := tanh')
        >>> report.statements[0].matches
        ['fc1', 'fc2']
    """
    return _ruleset(rules).plan(model, params=params, strict=strict)


def check(*paths: str | Path) -> list[Diagnostic]:
    r"""Every error and warning in rule files, without a model (no Keras import).

    Unlike [`load`][rewrite.load], nothing is raised: syntax and check errors come
    back as [`Diagnostic`][rewrite.Diagnostic]s with file, line and column.

    Examples:
        >>> _ = Path("typo.rw").write_text("Desne.activation := tanh\n")
        >>> (finding,) = rewrite.check("typo.rw")
        >>> finding.line, finding.column, finding.message
        (1, 1, 'unknown layer class `Desne`; did you mean `Dense`?')
    """
    diagnostics: list[Diagnostic] = []
    for p in paths:
        try:
            diagnostics += collect(p).diagnostics
        except RuleSyntaxError as exc:
            diagnostics.append(exc.diagnostic)
        except RuleCheckError as exc:
            diagnostics += exc.diagnostics
    return diagnostics


def graph(model: Any) -> nx.MultiDiGraph:
    """The model's layer calls as a `networkx.MultiDiGraph`.

    One node per call of a layer (`name#k` for its k-th call), nested models
    included; edges run from producer to consumer. Selectors match over this view.
    The graph is a `rewrite.graphview.view.LayerGraph`, a MultiDiGraph subclass that
    shows itself as a table in Jupyter.

    Examples:
        >>> g = rewrite.graph(model)
        >>> ("fc1#0", "fc2#0") in g.edges()
        True
    """
    # Imports Keras: here, so that `import rewrite` does not.
    from rewrite.graphview.exports import graph as graph_of

    return graph_of(model)


def draw(
    model: Any,
    rules: str | Path | RuleSet | RewriteReport | None = None,
    path: str | Path | None = None,
    *,
    params: dict[str, Any] | None = None,
    context: int = 2,
    max_nodes: int = 60,
    engine: Engine = "auto",
    format: Literal["svg", "png", "dot"] | None = None,
) -> Picture:
    """Draw `model`'s graph with what `rules` change marked in colour, and a legend.

    `rules` is rule text, a `.rw` path, a RuleSet (planned here, with `params`), or
    a report of a plan or rewrite of this model; `None` draws the graph unmarked.
    The format comes from `path`'s suffix: `.svg`, `.png`, or `.dot` (Graphviz
    source); without a path an SVG is returned, which Jupyter displays. Graphviz
    draws when `dot` is on PATH, matplotlib otherwise (`engine` picks one). A
    graph of more than `max_nodes` calls is folded to the marked layers and
    `context` hops around them.

    >>> rewrite.draw(model, "Dense.activation := gelu", "plan.png")  # doctest: +SKIP
    """
    # Imports Keras: here, so that `import rewrite` does not.
    from rewrite.picture.draw import draw as draw_report
    from rewrite.picture.draw import picture_format

    picture_format(path, format)  # a bad suffix fails before any planning
    report = rules if isinstance(rules, RewriteReport) or rules is None else _ruleset(rules).plan(model, params=params)
    return draw_report(model, report, path, context=context, max_nodes=max_nodes, engine=engine, format=format)


__all__ = ["apply", "check", "draw", "graph", "plan"]
