"""Variants of one model, one per distinct plan of a parametric rule set.

    rules = rewrite.load("search.rw")          # param act = relu in [relu, gelu] ...
    rules.space()                               # {"act": ParamSpace(...), ...}
    rules.grid()                                # every combination
    rules.sample(8, seed=0)                     # reproducible random draws
    for v in rewrite.search.variants(rules, model, rules.grid()):
        v.params, v.model, v.report

Variants whose plans are the same are built once. The graph view, and the probe
batch validation uses, are built once per (rule set, model); each variant only
re-plans and materializes. The base model is never modified. The parameter
spaces themselves (`ParamSpace`, `space`, `grid`, `sample`) live in
`rewrite.lang.params` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from rewrite import engine
from rewrite.engine import ModelCache
from rewrite.lang.params import ParamSpace, grid, sample, space


def signature(report: Any) -> str:
    """What a plan builds, as a digest: two param sets with one signature give one model."""
    return str(report.signature)


@dataclass
class Variant:
    """One variant: its parameter values, the model and report (or the variant it duplicates)."""

    index: int
    params: dict[str, Any]
    model: Any
    report: Any
    signature: str
    duplicate_of: int | None = None


def variants(ruleset: Any, model: Any, params_list: Iterable[dict[str, Any]], **options: Any) -> Iterator[Variant]:
    r"""Build one model per distinct plan of `ruleset` on `model`, lazily, in order.

    A parameter set whose plan was already built yields a Variant with
    `duplicate_of` set and no model. `options` are those of `rewrite.apply`; a
    `cache` given there must be `model`'s (one is made otherwise).

    Examples:
        >>> from rewrite.search import variants
        >>> rules = rewrite.from_text("param act = tanh in [tanh, gelu]\nDense.activation := $act")
        >>> [(v.params["act"], v.report.passed) for v in variants(rules, model, rules.grid())]
        [('tanh', True), ('gelu', True)]
    """
    cache = options.pop("cache", None) or ModelCache.of(model)
    for v, plan in _planned(ruleset, model, params_list, cache, bool(options.get("strict", False))):
        if v.duplicate_of is not None:
            yield v
            continue
        result = engine.run(ruleset, model, params=v.params, cache=cache, plan=plan, **options)
        yield Variant(v.index, v.params, result.model, result.report, v.signature)


def planned(ruleset: Any, model: Any, params_list: Iterable[dict[str, Any]], cache: ModelCache) -> Iterator[Variant]:
    """Each parameter set planned, not built: a Variant with the plan's report and no
    model, `duplicate_of` set where an earlier set has the same plan."""
    for v, _ in _planned(ruleset, model, params_list, cache):
        yield v


def _planned(
    ruleset: Any, model: Any, params_list: Iterable[dict[str, Any]], cache: ModelCache, strict: bool = False
) -> Iterator[tuple[Variant, Any]]:
    seen: dict[str, int] = {}
    for index, params in enumerate(params_list):
        plan, report = engine.planned(ruleset, model, params, strict, cache)
        sig = signature(report)
        first = seen.setdefault(sig, index)
        yield Variant(index, params, None, report, sig, duplicate_of=first if first != index else None), plan


__all__ = ["ParamSpace", "Variant", "grid", "planned", "sample", "signature", "space", "variants"]
