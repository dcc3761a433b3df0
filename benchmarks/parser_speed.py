"""Parser and checker throughput: one rule file of 10,000 statements.

The file is generated here: 1,000 `rule` blocks of ten statements each (every
statement form of the language: set field with globs, alternatives, predicates,
`@field` arithmetic and `$param`s; delete; insert; replace of a layer and of a
captured chain with a transform; wrap), each block with a description, a
parameter of its own and an `expect`, and numbers and names varied so no two
blocks are the same. It is parsed (Lark, LALR) and checked (every class, field,
value and parameter, as `keras-rewrite check` does) in this process; the target
is under one second. The first call, which also builds the LALR tables, is shown
separately.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import log, table

ACTIVATIONS = ["relu", "gelu", "tanh", "silu", "elu", "selu"]

STATEMENTS = [
    'Dense[name ~ "fc{i}_*"].activation := ${p}',
    "(Dense | BaseConv | Activation)[activation = relu, name !~ /^keep{i}_/].activation := {act}",
    'Conv2D[filters >= {f}, padding = "same"].filters := @filters * 2 using weights=reinit',
    "delete Dropout[rate = 0.{d}]",
    'insert Dropout(0.{d}) after Dense[name = "fc{i}"]',
    "replace c:Conv2D -> bn:BatchNormalization[momentum > 0.{d}] with fold_batchnorm",
    "replace ReLU[max_value = none, negative_slope = 0, threshold = 0] with Activation({act})",
    "wrap LSTM[units = {u}] in Bidirectional",
    '*[name ~ "stem{i}*", trainable = true].trainable := false',
    'Dense[name in ["head{i}", "aux{i}"]].units := @units // 2 using weights=slice',
]


def rule_file(statements: int) -> str:
    """`statements` statements in rule blocks of len(STATEMENTS)."""
    blocks = []
    for i in range((statements + len(STATEMENTS) - 1) // len(STATEMENTS)):
        act = ACTIVATIONS[i % len(ACTIVATIONS)]
        fields = {"i": i, "p": f"act{i}", "act": act, "f": 16 + i % 240, "d": i % 9 + 1, "u": 8 + i % 120}
        body = [s.format(**fields) for s in STATEMENTS][: statements - i * len(STATEMENTS)]
        blocks.append(
            f"param act{i} = {act} in [{', '.join(ACTIVATIONS)}]\n"
            f'rule block-{i} "generated block {i}" {{\n    '
            + "\n    ".join(body)
            + "\n    expect matches >= 0\n}\n"
        )
    return "\n".join(blocks)


def run(statements: int, runs: int) -> dict[str, Any]:
    import rewrite

    text = rule_file(statements)
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-parse-") as tmp:
        path = Path(tmp) / "big.rw"
        path.write_text(text)
        log(f"[parser] {statements} statements, {len(text) / 1e6:.2f} MB")
        times, cpu = [], []
        for _ in range(runs + 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            diagnostics = rewrite.check(path)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    rs = rewrite.from_text(text)
    errors = [d for d in diagnostics if d.severity == "error"]
    return {
        "statements": len(rs.statements),
        "chars": len(text),
        "lines": text.count("\n"),
        "first_s": times[0],
        "runs_s": times[1:],
        "median_s": statistics.median(times[1:]),
        "median_cpu_s": statistics.median(cpu[1:]),
        "errors": [str(d) for d in errors[:5]],
        "statements_per_s": len(rs.statements) / statistics.median(times[1:]),
    }


def render(result: dict[str, Any], limit_s: float) -> str:
    return "\n".join(
        [
            f"Parser  one rule file, parse + check (rewrite.check) (target: < {limit_s:g} s)",
            table(
                ["statements", "lines", "size", "first call", "median (wall)", "median (CPU)", "statements/s", "errors"],
                [
                    [
                        str(result["statements"]),
                        str(result["lines"]),
                        f"{result['chars'] / 1e6:.2f} MB",
                        f"{result['first_s']:.2f} s",
                        f"{result['median_s']:.2f} s",
                        f"{result['median_cpu_s']:.2f} s" if "median_cpu_s" in result else "-",
                        f"{result['statements_per_s']:,.0f}",
                        str(len(result["errors"])),
                    ]
                ],
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.parser_speed [STATEMENTS] [RUNS]`: the parser benchmark alone."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    statements = int(args[0]) if args else 10_000
    runs = int(args[1]) if len(args) > 1 else 3
    print(render(run(statements, runs), 1.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
