"""Timing helpers shared by every benchmark: alternation, medians, tables, targets.

Every comparison runs its two commands alternately (A B A B ...) after an untimed
warm-up, so that a change in machine load during the run hits both sides alike.
A `gc.collect()` runs before each timed call, outside the timed region. Both wall
time (what the targets are judged on) and process CPU time are recorded: on a
shared machine the CPU time shows whether a swing in wall time was load or work.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any


def log(message: str) -> None:
    """Progress goes to stderr; results go to stdout."""
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, value) of one call; the collector runs first, untimed."""
    gc.collect()  # each run leaves a whole model behind
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, value) of one call."""
    gc.collect()
    cpu = time.process_time()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, time.process_time() - cpu, value


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def alternate(
    run_a: Callable[[], Any],
    run_b: Callable[[], Any],
    pairs: int,
    label: str = "",
    on_a: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Time A and B alternately `pairs` times; per-pair ratios A/B with their median and range.

    `on_a` sees each A result (e.g. to collect its stage timings) before it is dropped.
    """
    a_s: list[float] = []
    b_s: list[float] = []
    a_cpu: list[float] = []
    b_cpu: list[float] = []
    for i in range(pairs):
        if label:
            log(f"[{label}] pair {i + 1}/{pairs}")
        wall, cpu, value = timed_cpu(run_a)
        a_s.append(wall)
        a_cpu.append(cpu)
        if on_a is not None:
            on_a(value)
        del value
        wall, cpu, value = timed_cpu(run_b)
        b_s.append(wall)
        b_cpu.append(cpu)
        del value
    ratios = [a / b for a, b in zip(a_s, b_s)]
    cpu_ratios = [a / b for a, b in zip(a_cpu, b_cpu) if b > 0]
    return {
        "a_s": a_s,
        "b_s": b_s,
        "a_cpu_s": a_cpu,
        "b_cpu_s": b_cpu,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "median_a_s": statistics.median(a_s),
        "median_b_s": statistics.median(b_s),
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
        "median_cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else None,
    }


# ------------------------------------------------------------------ targets


@dataclass
class Target:
    """One design target: what was measured, against which limit, and the verdict."""

    name: str
    measured: float | None
    limit: float
    unit: str = "x"
    """How `measured` and `limit` print: "x" (a ratio), "%", "ms", "s"."""
    detail: str = ""
    """What the number is (and its range, where there is one)."""
    section: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.measured is None else self.measured <= self.limit

    def show(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "%":
            return f"{value:.1%}"
        if self.unit == "x":
            return f"{value:.2f}x"
        return f"{value:.2f} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT met")


# ------------------------------------------------------------------ reporting


def table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the machine skews every timing."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def meta() -> dict[str, Any]:
    import keras
    import numpy

    out: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": numpy.__version__,
    }
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
        out["gpus"] = len(tf.config.list_physical_devices("GPU"))
    except ImportError:
        pass
    import rewrite

    out["keras_rewrite"] = rewrite.__version__
    return out
