"""keras-rewrite: declarative graph rewrites for Keras 3 models.

Importing this package, parsing and checking rules do not import Keras or a
backend; applying rules does. Everything here works on any Keras 3 backend
(TensorFlow, JAX, PyTorch); docs/backends.md says what was run on which.

Examples:
    >>> import rewrite
    >>> result = rewrite.apply(model, 'Dense[name ~ "fc*"].activation := tanh')
    >>> result.model.get_layer("fc1").activation.__name__
    'tanh'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewrite.errors import (
    Diagnostic,
    InplaceError,
    MatchError,
    ModelLoadError,
    PictureError,
    PlanError,
    RewriteError,
    RuleCheckError,
    RuleSyntaxError,
    ValidationFailure,
    WeightPolicyError,
)
from rewrite.parsing import parse
from rewrite.report import RewriteReport, RewriteResult
from rewrite.ruleset import RuleSet, collect, from_text, load
from rewrite.transforms import transform

if TYPE_CHECKING:
    import networkx as nx

    from rewrite.picture import Picture

__version__ = "0.1.0"

__all__ = [
    "Diagnostic",
    "InplaceError",
    "MatchError",
    "ModelLoadError",
    "PictureError",
    "PlanError",
    "RewriteError",
    "RewriteReport",
    "RewriteResult",
    "RuleCheckError",
    "RuleSet",
    "RuleSyntaxError",
    "ValidationFailure",
    "WeightPolicyError",
    "apply",
    "check",
    "collect",
    "draw",
    "from_text",
    "graph",
    "load",
    "parse",
    "plan",
    "transform",
]


def _ruleset(rules: str | Path | RuleSet) -> RuleSet:
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, Path) or (isinstance(rules, str) and rules.endswith(".rw") and "\n" not in rules and Path(rules).exists()):
        return load(rules)
    return from_text(str(rules))


def apply(model: Any, rules: str | Path | RuleSet, **options: Any) -> RewriteResult:
    """Rewrite `model` with rule text, a `.rw` path, or a loaded RuleSet.

    The input model is never changed in clone mode (the default): the result holds
    a new model with every weight that still fits carried over, validated, and a
    report of what changed and how far the outputs moved.

    Args:
        model: A Keras model (Functional or Sequential, nested models included).
        rules: Rule text, the path of a `.rw` file, or a [`RuleSet`][rewrite.RuleSet].
        **options: `params` (dict of parameter values), `mode` (`"clone"` or
            `"inplace"`), `validate` (`"full"`, `"config"` or `"none"`), `strict`
            (a statement that matches nothing is an error), `probe` (the input
            batch for validation and drift), `evaluate` (`(x, y)`: evaluate both
            models), `custom_objects` and `safe_mode` (for the `.keras` reload),
            `drift` (measure the output drift whatever `validate` is).

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
    return _ruleset(rules).apply(model, **options)


def plan(model: Any, rules: str | Path | RuleSet, params: dict[str, Any] | None = None) -> RewriteReport:
    """A dry run: matches, would-be changes and near misses, without building a model.

    Examples:
        >>> report = rewrite.plan(model, 'Dense[units >= 12].activation := tanh')
        >>> report.statements[0].matches
        ['fc1', 'fc2']
    """
    return _ruleset(rules).plan(model, params=params)


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
    The graph is a `rewrite.graphview.LayerGraph`, a MultiDiGraph subclass that
    shows itself as a table in Jupyter.

    Examples:
        >>> g = rewrite.graph(model)
        >>> ("fc1#0", "fc2#0") in g.edges()
        True
    """
    from rewrite.graphview import graph as _graph

    return _graph(model)


def draw(
    model: Any,
    rules: str | Path | RuleSet | RewriteReport | None = None,
    path: str | Path | None = None,
    *,
    params: dict[str, Any] | None = None,
    context: int = 2,
    max_nodes: int = 60,
    engine: str = "auto",
    format: str | None = None,
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
    from rewrite.picture import draw as _draw
    from rewrite.picture import picture_format

    picture_format(path, format)  # a bad suffix fails before any planning
    report = rules if isinstance(rules, RewriteReport) or rules is None else _ruleset(rules).plan(model, params=params)
    return _draw(model, report, path, context=context, max_nodes=max_nodes, engine=engine, format=format)  # type: ignore[arg-type]
