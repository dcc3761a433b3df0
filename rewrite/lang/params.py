"""Parameter spaces from `param` declarations: each space, the grid, reproducible samples."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

from rewrite.lang import ast
from rewrite.lang.expressions import evaluate


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
