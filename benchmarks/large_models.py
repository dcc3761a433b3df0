"""Peak memory and time of rewriting models of 0.5, 1 and 2 GB, each step in a fresh process.

    python -m benchmarks.large_models [--sizes 0.5,1,2]       (the table; `make bench` runs it)
    python -m benchmarks.large_models --child OP MODEL.keras OUT   (one measurement, JSON on stdout)

The models are built here: an `Embedding(4096, 4096)` then `Dense(4096, relu)`
layers and a `Dense(10)` head, as many Dense layers as the size needs (64 MB of
float32 each), saved with Keras's own `model.save`. Each operation runs in its own
Python process that imports Keras, TensorFlow and keras-rewrite first; its peak
resident memory comes from the kernel (`ru_maxrss` of the finished child, through
`os.wait4`), and the peak of a process that only imports (`idle`) is subtracted.
The time is the operation's own, imports excluded. Before each child the page
cache's dirty pages are flushed (`os.sync`) and the model file is read once, so
every operation starts from the same disk state: the file cached, nothing left
to write back from the operation before. `--repeat N` runs each operation N
times and keeps the median time and the largest peak. The operations:

- `load`: `keras.saving.load_model(MODEL)`, the yardstick: every ratio is to it;
- `by-hand`: load, `clone_model` with the activation changed, `set_weights`, `model.save`;
- `cli-none`, `cli-config`, `cli-full`: `keras-rewrite apply MODEL rule.rw -o OUT --validate ...`;
- `search-config`, `search-full`: `keras-rewrite search MODEL rules.rw --grid -o DIR
  --validate ...` writing two variants (gelu, tanh) of the model;
- `api-full`: load, then `rewrite.apply(model, rule)` in clone mode; its peak is
  measured from the loaded model on (the kernel's high-water mark reset) and set
  against the original's weights plus the result's;
- `keras-save`, `archive-save`, `archive-load`: `model.save` and
  `rewrite.keras_archive.save_keras` / `load_keras` alone, for the floors.

Linux only (it reads /proc); elsewhere it reports "not measured".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import log, markdown_table, table

UNITS = 4096
VOCABULARY = 4096
RULE = 'Dense[name ~ "fc*"].activation := gelu\n'
SEARCH_RULE = 'param act = gelu in [gelu, tanh]\nDense[name ~ "fc*"].activation := $act\n'
OPERATIONS = [
    "load", "by-hand", "cli-none", "cli-config", "cli-full", "api-full", "search-config", "search-full",
    "keras-save", "archive-save", "archive-load",
]
QUICK_OPERATIONS = ["load", "cli-full"]

TARGET_FULL = 1.2
"""Peak of `apply --validate full` over load_model's, same run."""
TARGET_LIGHT = 1.1
"""Peak of `apply --validate none|config` over load_model's."""
TARGET_FULL_TIME = 1.5
TARGET_NONE_TIME = 1.3
TARGET_API = 1.1
"""API clone mode: peak <= original + TARGET_API x result."""


def build(gigabytes: float, units: int = UNITS) -> Any:
    """The synthetic model of about `gigabytes` GB of float32 weights."""
    import keras

    per_layer = units * units * 4
    embedding = VOCABULARY * units * 4
    dense_layers = max(1, round((gigabytes * 1e9 - embedding) / per_layer))
    tokens = keras.Input((1,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(VOCABULARY if units == UNITS else units, units, name="embed")(tokens)
    h = keras.layers.Reshape((units,), name="flat")(h)
    for i in range(dense_layers):
        h = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(h)
    return keras.Model(tokens, keras.layers.Dense(10, name="head")(h), name=f"stack{dense_layers}")


def _by_hand(model: Any) -> Any:
    import keras

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if layer.name.startswith("fc"):
            config["activation"] = "gelu"
        return layer.__class__.from_config(config)

    new = keras.models.clone_model(model, clone_function=clone)
    for old_layer, new_layer in zip(model.layers, new.layers):
        new_layer.set_weights(old_layer.get_weights())
    return new


def child(operation: str, model_path: str, out: str) -> dict[str, Any]:
    """Run one operation in this (fresh) process; what it measured."""
    import keras

    import rewrite
    from benchmarks.memory import _status, live_rss, reset_peak
    from rewrite.cli.main import main as cli
    from rewrite.keras_archive import load_keras, save_keras

    rule = Path(out).with_suffix(".rw")
    rule.write_text(RULE)
    row: dict[str, Any] = {"operation": operation}
    start = time.perf_counter()
    if operation == "idle":
        pass
    elif operation == "load":
        keras.saving.load_model(model_path)
    elif operation == "by-hand":
        model = keras.saving.load_model(model_path)
        _by_hand(model).save(out)
    elif operation.startswith("cli-"):
        code = cli(["apply", model_path, str(rule), "-o", out, "--validate", operation[4:], "--force", "--format", "json"])
        row["exit"] = code
    elif operation.startswith("search-"):
        rules = rule.with_name("search.rw")
        rules.write_text(SEARCH_RULE)
        folder = str(Path(out).with_suffix(""))
        code = cli(["search", model_path, str(rules), "--grid", "-o", folder, "--validate", operation[7:], "--force", "--format", "json"])
        row["exit"] = code
    elif operation == "api-full":
        model = load_keras(model_path)
        row["weights"] = sum(int(v.numpy().nbytes) for v in model.weights)
        before = live_rss()
        reset_peak()
        start = time.perf_counter()
        result = rewrite.apply(model, RULE, validate="full")
        row["api_peak"] = _status("VmHWM") - before
        row["result_weights"] = sum(int(v.numpy().nbytes) for v in result.model.weights)
        row["passed"] = result.report.passed
    elif operation in ("keras-save", "archive-save"):
        model = load_keras(model_path)
        before = live_rss()
        reset_peak()
        start = time.perf_counter()
        if operation == "keras-save":
            model.save(out)
        else:
            save_keras(model, out)
        row["save_peak"] = _status("VmHWM") - before
    elif operation == "archive-load":
        load_keras(model_path)
    else:
        raise SystemExit(f"unknown operation {operation!r}")
    row["seconds"] = time.perf_counter() - start
    return row


def warm_memory(fraction: float = 0.8) -> float:
    """Touch `fraction` of the available memory once, in a child process; the seconds it took.

    On a virtual machine whose host backs guest memory lazily (this project's
    machines), the first write to a page the guest has never used costs a fault on
    the host: about 2.5 s per GB here, against 0.2 s for a page used before. Every
    operation below allocates and writes GBs (weights, page cache), so without this
    the first operations of a run pay for pages the later ones reuse, and the time
    ratios measure the order of the runs.
    """
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    size = int(available * fraction)
    code = f"import numpy as np; a = np.ones({size} // 8); print(a[-1])"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def _settle(model_path: str) -> None:
    """Write back what earlier operations left in the page cache, and cache the model file."""
    os.sync()
    if os.path.isfile(model_path):
        with open(model_path, "rb") as f:
            while f.read(16 << 20):
                pass


def measure(operation: str, model_path: str, out: str, repeat: int = 1) -> dict[str, Any]:
    """`repeat` child processes: the JSON line of the one of median time, with the largest peak from the kernel."""
    rows = [_measure_once(operation, model_path, out) for _ in range(max(1, repeat))]
    rows.sort(key=lambda r: r["seconds"])
    row = dict(rows[len(rows) // 2])
    row["maxrss"] = max(r["maxrss"] for r in rows)
    row["all_seconds"] = [r["seconds"] for r in rows]
    return row


def _measure_once(operation: str, model_path: str, out: str) -> dict[str, Any]:
    """One child process: its JSON line, with its peak resident memory from the kernel."""
    _settle(model_path)
    command = [sys.executable, "-m", "benchmarks.large_models", "--child", operation, model_path, out]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=root)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        lines = [line for line in stdout.read().splitlines() if line.startswith('{"operation"')]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{operation} on {model_path} failed ({proc.returncode}): {stderr.read().strip()[-2000:]}")
    row = json.loads(lines[-1])
    if row.get("exit", 0) != 0:
        raise RuntimeError(f"{operation} on {model_path} exited with {row['exit']}: its figures would mean nothing")
    row["maxrss"] = usage.ru_maxrss * 1024  # kilobytes on Linux
    return row


def _make_model(gigabytes: float, folder: Path, quick: bool) -> tuple[Path, int]:
    path = folder / f"stack-{gigabytes:g}gb.keras"
    code = (
        "import keras, sys\n"
        "from benchmarks.large_models import build\n"
        f"m = build({gigabytes!r}, units={64 if quick else UNITS})\n"
        "m.save(sys.argv[1])\n"
        "print(sum(int(v.numpy().nbytes) for v in m.weights))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode != 0:
        raise RuntimeError(f"building the {gigabytes} GB model failed: {proc.stderr.strip()[-2000:]}")
    return path, int(proc.stdout.split()[-1])


def run(sizes: list[float], quick: bool = False, record: str | None = None, repeat: int = 1) -> dict[str, Any]:
    if not (sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")):
        return {"rows": [], "skipped": "needs Linux /proc"}
    operations = QUICK_OPERATIONS if quick else OPERATIONS
    rows = []
    if not quick:
        log("[large] touching the free memory once (a VM's first use of a page is slow)")
        log(f"[large] warmed in {warm_memory():.0f} s")
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-large-") as tmp:
        folder = Path(tmp)
        idle = measure("idle", "-", str(folder / "idle.keras"))["maxrss"]
        for size in sizes:
            log(f"[large] building the {size:g} GB model")
            path, weights = _make_model(size, folder, quick)
            row: dict[str, Any] = {"size_gb": size, "weights": weights, "file": path.stat().st_size, "idle": idle, "ops": {}}
            for operation in operations:
                log(f"[large] {size:g} GB: {operation}")
                m = measure(operation, str(path), str(folder / f"out-{operation}.keras"), repeat)
                m["peak"] = m["maxrss"] - idle
                row["ops"][operation] = m
            path.unlink()
            rows.append(row)
            if record:  # a long run leaves what it measured so far
                Path(record).write_text(json.dumps({"rows": rows, "operations": operations}, indent=1))
    return {"rows": rows, "operations": operations}


def ratios(row: dict[str, Any]) -> dict[str, float]:
    """Peak and time of each operation over load_model's, and the API's peak over original + result."""
    ops = row["ops"]
    load = ops["load"]
    out = {}
    for name, m in ops.items():
        out[f"{name} peak"] = m["peak"] / max(load["peak"], 2**20)  # a tiny model's load may add nothing
        out[f"{name} time"] = m["seconds"] / max(load["seconds"], 1e-3)
    api = ops.get("api-full")
    if api is not None:
        out["api over original + result"] = (api["api_peak"] - api["weights"]) / api["result_weights"]
    return out


def _mb(x: float) -> str:
    return f"{x / 2**20:,.0f} MB"


def rows_for_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["weights", "operation", "peak above idle", "x load_model", "seconds", "x load_model time"]
    body = []
    for row in result["rows"]:
        load = row["ops"]["load"]
        for name, m in row["ops"].items():
            body.append([
                _mb(row["weights"]), name, _mb(m["peak"]), f"{m['peak'] / max(load['peak'], 2**20):.2f}",
                f"{m['seconds']:.1f}", f"{m['seconds'] / max(load['seconds'], 1e-3):.2f}",
            ])
    return header, body


def render(result: dict[str, Any]) -> str:
    if not result["rows"]:
        return f"Large models  not measured ({result.get('skipped')})"
    header, body = rows_for_table(result)
    return "Large models  peak RSS above a process that only imports, and time, each in a fresh process\n" + table(header, body)


def render_markdown(result: dict[str, Any]) -> str:
    header, body = rows_for_table(result)
    return markdown_table(header, body)


def plot(result: dict[str, Any], path: str) -> None:
    """Peak memory per model size, one line per operation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    sizes = [r["weights"] / 2**30 for r in result["rows"]]
    for name in ("load", "by-hand", "cli-none", "cli-config", "cli-full", "api-full", "search-config", "search-full"):
        if all(name in r["ops"] for r in result["rows"]):
            ax.plot(sizes, [r["ops"][name]["peak"] / 2**30 for r in result["rows"]], marker="o", label=name)
    ax.plot(sizes, sizes, color="grey", linestyle=":", label="the weights")
    ax.set_xlabel("model weights (GiB)")
    ax.set_ylabel("peak RSS above idle (GiB)")
    ax.set_title("Peak memory by model size (fresh process each)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.large_models")
    parser.add_argument("--child", nargs=3, metavar=("OPERATION", "MODEL", "OUT"))
    parser.add_argument("--sizes", default="0.5,1,2", help="model sizes in GB (default 0.5,1,2)")
    parser.add_argument("--quick", action="store_true", help="tiny models, three operations")
    parser.add_argument("--plot", metavar="PATH", help="the memory-per-size plot")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON (after each size)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each operation: the median time, the largest peak")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)), flush=True)
        return 0
    result = run([float(s) for s in args.sizes.split(",")], args.quick, args.json, args.repeat)
    print(render(result))
    for row in result["rows"]:
        print(f"{_mb(row['weights'])}: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios(row).items()))
    if args.plot and result["rows"]:
        plot(result, args.plot)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main())
