"""`keras-rewrite check` on many rule files: the pre-commit case.

    python -m benchmarks.check_speed [--files 200]

Writes N rule files (variants of the ready-made rules and of every statement
type) to a temporary folder and times `keras-rewrite check` on all of them, as a
fresh process (what a pre-commit hook pays, Python start-up included). The target
is under 2 seconds for 200 files, with TensorFlow never imported.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SECONDS = 2.0

EXTRA = """
param act{n} = gelu in [gelu, tanh, relu]
rule r{n} "variant {n}" {{
    Dense[name ~ "fc{n}*", units >= {n}].activation := $act{n}
    insert Dropout(0.{d}) after Dense[name = "fc{n}"]
    replace c:Conv2D -> bn:BatchNormalization with fold_batchnorm
    wrap LSTM[units = {n}] in Bidirectional
    delete Dropout[rate = 0.{d}]
    expect matches >= 0
}}
"""


def write_files(folder: Path, count: int) -> list[Path]:
    from rewrite.lang.loader import library_root

    library = sorted((library_root() / "std").glob("*.rw"))
    files = []
    for n in range(count):
        base = library[n % len(library)].read_text().replace("rule ", f"rule v{n}-", 1)
        path = folder / f"rule_{n:03d}.rw"
        path.write_text(base + EXTRA.format(n=n + 1, d=n % 9 + 1))
        files.append(path)
    return files


def run(count: int, runs: int = 3) -> dict[str, Any]:
    """`keras-rewrite check` on `count` generated files in a fresh process, `runs` times."""
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-check-") as tmp:
        files = write_files(Path(tmp), count)
        code = (
            "import sys; from rewrite.cli import main; rc = main(['check', *sys.argv[1:]]); "
            "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]; "
            "print('HEAVY', heavy); sys.exit(rc)"
        )
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True)
            times.append(time.perf_counter() - start)
        lines = proc.stdout.strip().splitlines()
        summary = next((line for line in lines if "file(s) checked" in line), "")
        heavy = next((line for line in lines if line.startswith("HEAVY")), "")
    best = min(times)
    return {
        "files": count,
        "runs_s": times,
        "best_s": best,
        "summary": summary,
        "heavy": heavy,
        "returncode": proc.returncode,
        "met": best < TARGET_SECONDS and proc.returncode == 0 and heavy == "HEAVY []",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.check_speed")
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args(argv)
    r = run(args.files)
    print(f"check on {args.files} rule files, fresh process: best {r['best_s']:.2f} s of {len(r['runs_s'])} ({', '.join(f'{t:.2f}' for t in r['runs_s'])})")
    print(f"  {r['summary']}")
    print(f"  modules imported: {r['heavy']}")
    print(f"  target < {TARGET_SECONDS:.0f} s without TensorFlow: {'met' if r['met'] else 'NOT met'}")
    return 0 if r["returncode"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
