"""Peak memory of a rewrite, measured as resident memory (RSS) in a fresh process.

    python -m benchmarks.memory --child resnet50 a     (one measurement, JSON on stdout)

Each measurement runs in its own Python process, so one measurement's freed memory
cannot hide the next one's peak. The child:

1. imports Keras and keras-rewrite and rewrites a tiny model once (the code paths
   and TensorFlow's kernels are loaded; the model under test is not touched yet);
2. reads its live RSS, `base`;
3. builds the model and reads the live RSS again: `original` is the difference;
4. resets the kernel's high-water mark (writing 5 to /proc/self/clear_refs), runs
   the rewrite (A: ``rewrite.apply(validate="none")``; B: the hand-written loop),
   keeps the result and reads the high-water mark (VmHWM) and the live RSS:
   `rewritten` is the growth of live RSS, `peak` is VmHWM minus `base`.

"Live RSS" is read after ``gc.collect()`` and glibc's ``malloc_trim(0)``, which hands
freed heap back to the kernel, so it counts what is held rather than what the
allocator keeps cached. The target: peak <= 1.1 x (original + rewritten), i.e. at
its worst the rewrite holds the two models and at most 10% more. Linux only (it
reads /proc); elsewhere the section reports "not measured".
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
from typing import Any

from benchmarks.harness import log, table


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS includes cached free memory
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _status(field: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def live_rss() -> int:
    _trim()
    return _status("VmRSS")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def supported() -> bool:
    return sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")


def child(key: str, side: str, quick: bool) -> dict[str, Any]:
    import rewrite
    from benchmarks.cases import CASES, baseline, tiny_model

    case = CASES[key]
    warm = tiny_model()
    rewrite.apply(warm, case.rule, validate="none")
    baseline(warm, case)
    del warm
    base = live_rss()
    model = tiny_model() if quick else case.build()
    param_bytes = sum(int(v.numpy().nbytes) for v in model.weights)
    after_build = live_rss()
    reset_peak()
    if side == "a":
        result: Any = rewrite.apply(model, case.rule, validate="none")
    else:
        result = baseline(model, case)
    peak = _status("VmHWM")
    after = live_rss()
    del result
    return {
        "model": key,
        "side": side,
        "param_bytes": param_bytes,
        "base": base,
        "original": after_build - base,
        "rewritten": after - after_build,
        "peak": peak - base,
    }


def measure(key: str, side: str, quick: bool) -> dict[str, Any]:
    """One child process; its JSON line."""
    command = [sys.executable, "-m", "benchmarks.memory", "--child", key, side] + (["--quick"] if quick else [])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"memory child {key}/{side} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def run(keys: list[str], quick: bool) -> dict[str, Any]:
    """A and B for each model, each in a fresh process (with `quick`: A only, on a tiny model)."""
    if not supported():
        return {"rows": [], "skipped": "needs Linux /proc/self/clear_refs"}
    rows = []
    for key in keys:
        for side in ("a",) if quick else ("a", "b"):
            log(f"[memory] {key} {side.upper()}")
            m = measure(key, side, quick)
            held = m["original"] + m["rewritten"]
            m["ratio"] = m["peak"] / held if held > 2**20 else None  # below 1 MB it says nothing
            rows.append(m)
    a_rows = [r for r in rows if r["side"] == "a"]
    ratios = [r["ratio"] for r in a_rows if r["ratio"] is not None]
    return {"rows": rows, "worst_ratio": max(ratios) if ratios else None}


def render(result: dict[str, Any], limit: float) -> str:
    if not result["rows"]:
        return f"Memory  not measured ({result.get('skipped')})"

    def mb(x: int) -> str:
        return f"{x / 2**20:.0f} MB"

    return "\n".join(
        [
            f"Memory  live RSS in a fresh process; peak during the rewrite over original + rewritten "
            f"(target for A: <= {limit:.2f})",
            table(
                ["model", "side", "weights", "original", "rewritten", "peak", "peak / (orig + new)"],
                [
                    [
                        r["model"],
                        "A rewrite" if r["side"] == "a" else "B by hand",
                        mb(r["param_bytes"]),
                        mb(r["original"]),
                        mb(r["rewritten"]),
                        mb(r["peak"]),
                        f"{r['ratio']:.2f}" if r["ratio"] is not None else "-",
                    ]
                    for r in result["rows"]
                ],
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "SIDE"), required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    key, side = args.child
    print(json.dumps(child(key, side, args.quick)), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main())
