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
    from rewrite.ruleset import library_root

    library = sorted((library_root() / "std").glob("*.rw"))
    files = []
    for n in range(count):
        base = library[n % len(library)].read_text().replace("rule ", f"rule v{n}-", 1)
        path = folder / f"rule_{n:03d}.rw"
        path.write_text(base + EXTRA.format(n=n + 1, d=n % 9 + 1))
        files.append(path)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.check_speed")
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-check-") as tmp:
        files = write_files(Path(tmp), args.files)
        code = (
            "import sys; from rewrite.cli import main; rc = main(['check', *sys.argv[1:]]); "
            "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]; "
            "print('HEAVY', heavy); sys.exit(rc)"
        )
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True)
            runs.append(time.perf_counter() - start)
        lines = proc.stdout.strip().splitlines()
        summary = next((line for line in lines if "file(s) checked" in line), "")
        heavy = next((line for line in lines if line.startswith("HEAVY")), "")
    best = min(runs)
    met = best < TARGET_SECONDS and proc.returncode == 0 and heavy == "HEAVY []"
    print(f"check on {args.files} rule files, fresh process: best {best:.2f} s of {len(runs)} ({', '.join(f'{r:.2f}' for r in runs)})")
    print(f"  {summary}")
    print(f"  modules imported: {heavy}")
    print(f"  target < {TARGET_SECONDS:.0f} s without TensorFlow: {'met' if met else 'NOT met'}")
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
