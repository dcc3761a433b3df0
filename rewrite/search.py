"""Search spaces from `param` declarations, and variants of one model.

    rules = rewrite.load("search.rw")          # param act = relu in [relu, gelu] ...
    rules.space()                               # {"act": ParamSpace(...), ...}
    rules.grid()                                # every combination
    rules.sample(8, seed=0)                     # reproducible random draws
    for v in rewrite.search.variants(rules, model, rules.grid()):
        v.params, v.model, v.report

Variants whose plans are the same are built once. The graph view, and the probe
batch validation uses, are built once per (rule set, model); each variant only
re-plans and materializes. The base model is never modified.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from rewrite import ast
from rewrite.values import evaluate


@dataclass(frozen=True)
class ParamSpace:
    """What values one parameter may take."""

    name: str
    kind: Literal["choice", "int", "float", "fixed"]
    default: Any
    values: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None

    def points(self) -> list[Any]:
        """Every value a grid visits."""
        if self.kind in ("choice", "fixed"):
            return list(self.values)
        assert self.low is not None and self.high is not None
        step = self.step
        if step is None:
            if self.kind == "float":
                raise ValueError(
                    f"param `{self.name}`: a float range needs a step for a grid; write `range({self.low}, {self.high}, step=...)`, "
                    "or draw samples instead (CLI: --sample N; Python: RuleSet.sample(n))"
                )
            step = 1
        n = int(round((self.high - self.low) / step))
        pts = [self.low + i * step for i in range(n + 1) if self.low + i * step <= self.high + 1e-12]
        return [int(p) if self.kind == "int" else round(float(p), 12) for p in pts]


def space(ruleset: Any) -> dict[str, ParamSpace]:
    out = {}
    for name, p in ruleset.params.items():
        default = evaluate(p.default)
        if isinstance(p.space, ast.Choice):
            out[name] = ParamSpace(name, "choice", default, tuple(evaluate(v) for v in p.space.values))
        elif isinstance(p.space, ast.Range):
            low, high = evaluate(p.space.low), evaluate(p.space.high)
            step = evaluate(p.space.step) if p.space.step is not None else None
            is_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, step or 1, default))
            out[name] = ParamSpace(name, "int" if is_int else "float", default, (), low, high, step)
        else:
            out[name] = ParamSpace(name, "fixed", default, (default,))
    return out


def grid(ruleset: Any) -> list[dict[str, Any]]:
    """Every combination of every parameter's values, in declaration order."""
    spaces = space(ruleset)
    names = list(spaces)
    return [dict(zip(names, combo)) for combo in itertools.product(*(spaces[n].points() for n in names))]


def sample(ruleset: Any, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` reproducible random draws (the same seed gives the same draws)."""
    import numpy as np

    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"sample() takes a number of draws, 0 or more. Received: n={n!r}")
    rng = np.random.default_rng(seed)
    spaces = space(ruleset)
    draws = []
    for _ in range(n):
        draw: dict[str, Any] = {}
        for name, s in spaces.items():
            if s.kind in ("choice", "fixed"):
                draw[name] = s.values[int(rng.integers(len(s.values)))]
            elif s.kind == "int" or s.step is not None:
                pts = s.points()
                draw[name] = pts[int(rng.integers(len(pts)))]
            else:
                assert s.low is not None and s.high is not None
                draw[name] = float(rng.uniform(s.low, s.high))
        draws.append(draw)
    return draws


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
    `duplicate_of` set and no model. `options` are those of `rewrite.apply`.

    Examples:
        >>> from rewrite.search import variants
        >>> rules = rewrite.from_text("param act = tanh in [tanh, gelu]\nDense.activation := $act")
        >>> [(v.params["act"], v.report.passed) for v in variants(rules, model, rules.grid())]
        [('tanh', True), ('gelu', True)]
    """
    from rewrite.engine import Prepared, run

    prepared = Prepared.of(model)
    for v, plan in _planned(ruleset, model, params_list, prepared, bool(options.get("strict", False))):
        if v.duplicate_of is not None:
            yield v
            continue
        result = run(ruleset, model, params=v.params, prepared=prepared, plan=plan, **options)
        yield Variant(v.index, v.params, result.model, result.report, v.signature)


def planned(ruleset: Any, model: Any, params_list: Iterable[dict[str, Any]], prepared: Any) -> Iterator[Variant]:
    """Each parameter set planned, not built: a Variant with the plan's report and no
    model, `duplicate_of` set where an earlier set has the same plan."""
    for v, _ in _planned(ruleset, model, params_list, prepared):
        yield v


def _planned(
    ruleset: Any, model: Any, params_list: Iterable[dict[str, Any]], prepared: Any, strict: bool = False
) -> Iterator[tuple[Variant, Any]]:
    from rewrite import engine

    seen: dict[str, int] = {}
    for index, params in enumerate(params_list):
        plan, report = engine.planned(ruleset, model, params, strict, prepared)
        sig = signature(report)
        first = seen.setdefault(sig, index)
        yield Variant(index, params, None, report, sig, duplicate_of=first if first != index else None), plan
