"""Parameter spaces from `param` declarations: each space, the grid, reproducible samples."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

from rewrite.lang import ast
from rewrite.lang.expressions import evaluate

GRID_LIMIT = 100_000
"""The most combinations a grid may have: larger spaces are sampled."""


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

    def _step(self) -> float | int:
        if self.step is not None:
            return self.step
        if self.kind == "float":
            raise ValueError(
                f"param `{self.name}`: a float range needs a step for a grid; write `range({self.low}, {self.high}, step=...)`, "
                "or draw samples instead (CLI: --sample N; Python: RuleSet.sample(n))"
            )
        return 1

    def count(self) -> int:
        """How many values a grid visits, counted without listing them."""
        if self.kind in ("choice", "fixed"):
            return len(self.values)
        assert self.low is not None and self.high is not None
        step = self._step()
        n = int(round((self.high - self.low) / step))
        return n + 1 if self.low + n * step <= self.high + 1e-12 else n

    def point(self, k: int) -> Any:
        """The k-th value a grid visits."""
        if self.kind in ("choice", "fixed"):
            return self.values[k]
        assert self.low is not None
        value = self.low + k * self._step()
        return int(value) if self.kind == "int" else round(float(value), 12)

    def points(self) -> list[Any]:
        """Every value a grid visits (refused past GRID_LIMIT: `count` says how many)."""
        count = self.count()
        if count > GRID_LIMIT:
            raise ValueError(
                f"param `{self.name}` spans {count:,} values, over the limit of {GRID_LIMIT:,} for a grid; "
                "draw samples instead (CLI: --sample N; Python: RuleSet.sample(n)), or give the range a larger step"
            )
        return [self.point(k) for k in range(count)]


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
    total = math.prod(spaces[n].count() for n in names)
    if total > GRID_LIMIT:
        raise ValueError(
            f"the grid has {total:,} combinations, over the limit of {GRID_LIMIT:,}; draw samples instead "
            "(CLI: --sample N; Python: RuleSet.sample(n))"
        )
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
                count = s.count()  # counted, not listed: a billion values cost one draw
                k = int(rng.integers(count)) if count < 2**62 else min(int(rng.random() * count), count - 1)
                draw[name] = s.point(k)
            else:
                assert s.low is not None and s.high is not None
                draw[name] = float(rng.uniform(s.low, s.high))
        draws.append(draw)
    return draws
