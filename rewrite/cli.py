"""The `keras-rewrite` command line.

    keras-rewrite check rules/*.rw
    keras-rewrite plan model.keras rules/head.rw --picture plan.svg
    keras-rewrite apply model.keras rules/head.rw -o out.keras --set act=gelu
    keras-rewrite graph model.keras --format dot
    keras-rewrite test rules/
    keras-rewrite demo

Exit status: 0 success, 1 rule, rewrite or validation errors, 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from rewrite.errors import ModelLoadError, RewriteError, RuleCheckError, RuleSyntaxError
from rewrite.progress import Progress


def _bar(args: argparse.Namespace, label: str, total: int | None = None) -> Progress:
    """The command's progress bar: drawn on stderr at a terminal, never with --json."""
    return Progress(label, total, enabled=False if getattr(args, "json", False) else None)


def parse_assignment(text: str) -> tuple[str, Any]:
    """`k=v` from --set; the value uses the rule language's literal syntax."""
    from rewrite.parsing import parse
    from rewrite.values import evaluate

    if "=" not in text:
        raise ValueError(f"--set takes NAME=VALUE, e.g. --set act=gelu. Received: {text!r}")
    name, value = text.split("=", 1)
    parsed = parse(f"param {name.strip()} = {value.strip()}", "--set")
    return parsed.params[0].name, evaluate(parsed.params[0].default)


def load_model(spec: str, custom_objects: dict | None = None, safe_mode: bool = True) -> Any:
    """A model from a .keras/.h5 path or from `module:callable` (called with no arguments)."""
    path = Path(spec)
    if path.suffix in (".keras", ".h5"):
        if not path.exists():
            raise ModelLoadError(f"model file {spec} does not exist")
        import keras

        try:
            with warnings.catch_warnings():
                # A model compiled and saved before any training step has an optimizer with
                # no slots yet; Keras warns that it cannot restore them. A rewrite compiles
                # its result with a fresh optimizer anyway, so the warning says nothing here.
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                return keras.saving.load_model(str(path), custom_objects=custom_objects, safe_mode=safe_mode)
        except Exception as exc:
            message = f"cannot load {spec}: {type(exc).__name__}: {exc}".splitlines()[0]
            if "lambda" in str(exc).lower():
                message += (
                    ". The model has a Lambda layer: loading it runs code stored in the file, which safe mode "
                    "refuses. Pass --unsafe only if you trust where the file came from"
                )
            raise ModelLoadError(message) from exc
    if ":" in spec:
        module_name, attr = spec.split(":", 1)
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelLoadError(f"cannot import `{module_name}` for MODEL {spec}: {exc}") from exc
        factory = getattr(module, attr, None)
        if not callable(factory):
            raise ModelLoadError(f"`{attr}` in module `{module_name}` is not a callable that returns a model (MODEL {spec})")
        model = factory()
        import keras

        if not isinstance(model, keras.Model):
            raise ModelLoadError(f"`{spec}` returned {type(model).__name__}, not a Keras model")
        return model
    raise ModelLoadError(f"MODEL must be a .keras/.h5 file or `module:callable`. Received: {spec!r}")


def _custom_objects(spec: str | None) -> dict | None:
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    value = getattr(importlib.import_module(module_name), attr or "custom_objects")
    if not isinstance(value, dict):
        raise ModelLoadError(f"--custom-objects {spec} must name a dict of name -> class")
    return value


def _params(args: argparse.Namespace) -> dict[str, Any]:
    return dict(parse_assignment(s) for s in args.set or [])


def cmd_check(args: argparse.Namespace) -> int:
    import rewrite

    diagnostics = rewrite.check(*args.files)
    errors = [d for d in diagnostics if d.severity == "error"]
    if args.format == "json":
        print(json.dumps({"files": len(args.files), "errors": len(errors), "diagnostics": [d.to_dict() for d in diagnostics]}, indent=2))
    else:
        for d in diagnostics:
            print(d)
        print(f"{len(args.files)} file(s) checked: {len(errors)} error(s), {len(diagnostics) - len(errors)} warning(s)")
    return 1 if errors else 0


def _load_rules(args: argparse.Namespace) -> Any:
    import rewrite

    return rewrite.load(*args.rules)


def _picture(args: argparse.Namespace, model: Any, report: Any, bar: Progress) -> str | None:
    """Draw the plan or rewrite to --picture, if asked; the line that says where it went."""
    if not args.picture:
        return None
    from rewrite.picture import draw

    bar.step(f"drawing {args.picture}")
    drawn = draw(model, report, args.picture, context=args.picture_context)
    folded = f", {drawn.folded} unchanged layer calls folded" if drawn.folded else ""
    return f"drew {args.picture} ({drawn.boxes} boxes{folded}; {drawn.engine if drawn.engine != 'none' else 'Graphviz source'})"


def cmd_plan(args: argparse.Namespace) -> int:
    rules = _load_rules(args)
    if args.picture:
        from rewrite.picture import picture_format

        picture_format(args.picture)
    with _bar(args, "plan", total=3 if args.picture else 2) as bar:
        bar.step(f"loading model {args.model}")
        model = load_model(args.model, _custom_objects(args.custom_objects), not args.unsafe)
        from rewrite.engine import dry_run

        bar.step("planning")
        report = dry_run(rules, model, params=_params(args), strict=args.strict)
        drew = _picture(args, model, report, bar)
    print(report.to_json() if args.json else report.render(explain=args.explain))
    if drew and not args.json:
        print(drew)
    return 1 if args.strict and any(not s.matches for s in report.statements) else 0


def _load_eval(path: str | None) -> tuple[Any, Any] | None:
    if not path:
        return None
    import numpy as np

    data = np.load(path, allow_pickle=False)
    if "x" not in data or "y" not in data:
        raise ModelLoadError(f"--eval {path} must hold arrays named `x` and `y`; it has {sorted(data.files)}")
    return data["x"], data["y"]


def _load_probe(path: str | None) -> Any:
    """--probe DATA.npz: one array `x`, or one array per model input named after the input."""
    if not path:
        return None
    import numpy as np

    data = np.load(path, allow_pickle=False)
    if "x" in data.files:
        return data["x"]
    if not data.files:
        raise ModelLoadError(f"--probe {path} holds no arrays; save the inputs as `x` (np.savez(path, x=...))")
    return {name: data[name] for name in data.files}


def cmd_apply(args: argparse.Namespace) -> int:
    if Path(args.output).resolve() == Path(args.model).resolve():
        raise ModelLoadError("-o must not be the input model: keras-rewrite never overwrites its input")
    if Path(args.output).exists() and not args.force:
        raise ModelLoadError(f"{args.output} exists; pass --force to replace it (it is replaced only after validation passes)")
    rules = _load_rules(args)
    custom = _custom_objects(args.custom_objects)
    if args.picture:
        from rewrite.picture import picture_format

        picture_format(args.picture)
    with _bar(args, "apply") as bar:
        bar.reserved = 2 if args.picture else 1  # writing, drawing
        bar.step(f"loading model {args.model}")
        model = load_model(args.model, custom, not args.unsafe)
        result = rules.apply(
            model,
            params=_params(args),
            mode=args.mode,
            validate=args.validate,
            strict=args.strict,
            evaluate=_load_eval(args.eval),
            probe=_load_probe(args.probe),
            custom_objects=custom,
            safe_mode=not args.unsafe,
            progress=bar,
        )
        bar.step(f"writing {args.output}")
        result.save(args.output)
        drew = _picture(args, model, result.report, bar)
    print(result.report.to_json() if args.json else result.report.render())
    if not args.json:
        print(f"wrote {args.output}")
        if drew:
            print(drew)
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    model = load_model(args.model, _custom_objects(args.custom_objects), not args.unsafe)
    from rewrite.graphview import graph, to_dot, to_json, to_text

    g = graph(model)
    if args.format == "dot":
        print(to_dot(g))
    elif args.format == "json":
        print(json.dumps(to_json(g), indent=2, default=str))
    else:
        print(to_text(g))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    import csv
    import io

    from rewrite.saving import write_text_atomic

    if args.jobs < 1:
        raise ValueError(f"--jobs takes a number of worker processes, 1 or more. Received: --jobs {args.jobs}")
    rules = _load_rules(args)
    fixed = _params(args)
    if args.sample is not None:
        if args.sample < 1:
            raise ValueError(f"--sample takes a number of draws, 1 or more. Received: --sample {args.sample}")
        params_list = rules.sample(args.sample, seed=args.seed)
    else:
        params_list = rules.grid()
    params_list = [{**p, **fixed} for p in params_list]
    custom = _custom_objects(args.custom_objects)
    out_dir = Path(args.output)
    if (out_dir / "index.json").exists() and not args.force:
        raise ModelLoadError(f"{out_dir} already holds a search (index.json); pass --force to write over it")
    with _bar(args, "search", total=len(params_list) + 1) as bar:
        bar.step(f"loading model {args.model}")
        model = load_model(args.model, custom, not args.unsafe)
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = _write_variants(args, rules, model, params_list, custom, out_dir, bar)
    names = sorted({k for r in rows for k in r["params"]})
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["index", *names, "file", "parameters", "validation", "max_drift", "duplicate_of"])
    for r in rows:
        writer.writerow([r["index"], *(r["params"].get(n) for n in names), r.get("file"), r.get("parameters"), r.get("validation"), r.get("max_drift"), r.get("duplicate_of")])
    # The index is written last and whole: a folder with an index.json holds every file it names.
    write_text_atomic(out_dir / "index.csv", table.getvalue())
    write_text_atomic(out_dir / "index.json", json.dumps(rows, indent=2, default=str) + "\n")
    built = sum(1 for r in rows if r.get("file"))
    print(f"{built} variant(s) written to {out_dir} ({len(rows) - built} duplicate(s) skipped); index.json, index.csv")
    return 0


def _variant_row(index: int, params: dict[str, Any], model: Any, report: Any, rules: Any, out_dir: Path) -> dict[str, Any]:
    """Save one built variant (whole or not at all); its row of the index."""
    from rewrite.provenance import record
    from rewrite.saving import save_atomic

    name = f"variant_{index:03d}.keras"
    save_atomic(model, out_dir / name, provenance=record(rules, params, report))
    return {
        "index": index,
        "params": params,
        "file": name,
        "parameters": int(model.count_params()),
        "validation": "passed" if report.passed else "failed",
        "max_drift": max((d.max_abs for d in report.drift), default=None),
        "changed_layers": len({c.layer for s in report.statements for c in [*s.changes, *s.structure]}),
    }


def _duplicate_row(index: int, params: dict[str, Any], of: int) -> dict[str, Any]:
    return {"index": index, "params": params, "file": None, "duplicate_of": of}


def _write_variants(
    args: argparse.Namespace, rules: Any, model: Any, params_list: list[dict[str, Any]], custom: dict | None, out_dir: Path, bar: Progress
) -> list[dict[str, Any]]:
    """Build and save each variant, one step of the bar each; the rows of the index."""
    from rewrite.search import variants

    if args.jobs > 1:
        return _write_variants_in_processes(args, rules, model, params_list, out_dir, bar)
    rows: list[dict[str, Any]] = []
    total = len(params_list)
    if total:
        bar.step(f"variant 1/{total} {params_list[0]}")
    options = dict(validate=args.validate, custom_objects=custom, safe_mode=not args.unsafe, drift=args.drift)
    for v in variants(rules, model, params_list, **options):
        if v.duplicate_of is not None:
            row = _duplicate_row(v.index, v.params, v.duplicate_of)
            bar.note(f"[{v.index + 1}/{total}] {v.params}: same model as variant {v.duplicate_of}, skipped")
        else:
            row = _variant_row(v.index, v.params, v.model, v.report, rules, out_dir)
            bar.note(f"[{v.index + 1}/{total}] {v.params}: {row['file']}, {row['parameters']:,} parameters")
        rows.append(row)
        if v.index + 1 < total:
            bar.step(f"variant {v.index + 2}/{total} {params_list[v.index + 1]}")
    return rows


# ---------------------------------------------------------------- search --jobs N

_WORKER: dict[str, Any] = {}


def _search_worker_start(args: argparse.Namespace, model_path: str) -> None:
    """In each worker process, once: the rules, the model (from a file, so every
    worker starts from the same weights) and what variants of it share."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import_backend_quietly()
    from rewrite.engine import Prepared

    custom = _custom_objects(args.custom_objects)
    model = load_model(model_path, custom, not args.unsafe)
    _WORKER.update(args=args, rules=_load_rules(args), custom=custom, model=model, prepared=Prepared.of(model))


def _search_worker_build(index: int, params: dict[str, Any]) -> dict[str, Any]:
    """Build, validate and save one variant in a worker; errors come back as text
    (an exception object may not survive the trip between processes)."""
    from rewrite.engine import run

    w, args = _WORKER, _WORKER["args"]
    try:
        result = run(
            w["rules"], w["model"], params=params, validate=args.validate, custom_objects=w["custom"],
            safe_mode=not args.unsafe, prepared=w["prepared"], drift=args.drift,
        )
        return _variant_row(index, params, result.model, result.report, w["rules"], Path(args.output))
    except (RewriteError, ValueError) as exc:
        return {"index": index, "params": params, "error": str(exc)}


def _write_variants_in_processes(
    args: argparse.Namespace, rules: Any, model: Any, params_list: list[dict[str, Any]], out_dir: Path, bar: Progress
) -> list[dict[str, Any]]:
    """--jobs N: plans here (duplicates are found before anything is built), then
    N worker processes build, validate and save the distinct variants."""
    import multiprocessing
    import tempfile
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from rewrite.engine import Prepared
    from rewrite.search import planned

    rows: dict[int, dict[str, Any]] = {}
    todo: list[tuple[int, dict[str, Any]]] = []
    for v in planned(rules, model, params_list, Prepared.of(model)):
        if v.duplicate_of is not None:
            rows[v.index] = _duplicate_row(v.index, v.params, v.duplicate_of)
            bar.step(f"[{v.index + 1}/{len(params_list)}] {v.params}: same model as variant {v.duplicate_of}, skipped")
        else:
            todo.append((v.index, v.params))
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-search-") as tmp:
        model_path = args.model
        if Path(model_path).suffix not in (".keras", ".h5"):  # built by a callable: the workers get this very model
            from rewrite.saving import save_atomic

            model_path = str(Path(tmp) / "base.keras")
            save_atomic(model, Path(model_path))
        bar.note(f"building {len(todo)} variant(s) in {args.jobs} worker processes")
        context = multiprocessing.get_context("spawn")  # never fork a process that holds TensorFlow
        with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=_search_worker_start, initargs=(args, model_path)) as pool:
            pending = {pool.submit(_search_worker_build, index, params) for index, params in todo}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        try:
                            row = future.result()
                        except BrokenProcessPool as exc:
                            raise RewriteError(
                                f"a worker process ended without a result ({exc}); it may have run out of memory. "
                                "The files written so far are whole; no index was written. Try fewer --jobs"
                            ) from None
                        if "error" in row:
                            raise RewriteError(f"variant {row['index']} {row['params']}: {row['error']}")
                        rows[row["index"]] = row
                        bar.step(f"[{row['index'] + 1}/{len(params_list)}] {row['params']}: {row['file']}, {row['parameters']:,} parameters")
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    return [rows[i] for i in sorted(rows)]


def cmd_diff(args: argparse.Namespace) -> int:
    from rewrite.diffing import diff_models, render
    from rewrite.provenance import read

    custom = _custom_objects(args.custom_objects)
    a = load_model(args.old, custom, not args.unsafe)
    b = load_model(args.new, custom, not args.unsafe)
    prov_a = read(args.old) if args.old.endswith(".keras") else None
    prov_b = read(args.new) if args.new.endswith(".keras") else None
    print(render(diff_models(a, b, prov_a, prov_b), args.format))
    return 0


def cmd_show_provenance(args: argparse.Namespace) -> int:
    from rewrite.provenance import read

    data = read(args.model)
    if data is None:
        print(f"{args.model}: no keras-rewrite provenance (not made by keras-rewrite, or not a .keras file)")
        return 1
    print(json.dumps(data, indent=2, sort_keys=True))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from rewrite.ruletest import run

    outcomes = run(args.paths, update=args.update)
    if not outcomes:
        print("no rule tests found (files named <rule>.test.toml)")
        return 1
    return 0 if all(o.passed for o in outcomes) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from rewrite.demo import run_demo

    summary = run_demo(args.out_dir, as_json=args.json)
    return 0 if summary["validation_passed"] else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="keras-rewrite", description="Declarative graph rewrites for Keras 3 models.")
    sub = p.add_subparsers(dest="command", required=True)

    def model_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--custom-objects", metavar="MODULE:DICT", help="custom classes for loading, a dict in an importable module")
        sp.add_argument("--unsafe", action="store_true", help="load with safe_mode=False (Lambda layers); only for models you trust")

    c = sub.add_parser("check", help="check rule files (no model, no TensorFlow)")
    c.add_argument("files", nargs="+")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.set_defaults(func=cmd_check)

    for name, helptext, func in (("plan", "dry run: matches, changes, near misses", cmd_plan), ("apply", "rewrite a model and write the result", cmd_apply)):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("model", help="a .keras/.h5 file or module:callable")
        sp.add_argument("rules", nargs="+", help=".rw rule files, applied in order")
        sp.add_argument("--set", action="append", metavar="NAME=VALUE", help="set a param (repeatable)")
        sp.add_argument("--strict", action="store_true", help="a statement that matches nothing is an error")
        sp.add_argument("--json", action="store_true", help="print the report as JSON")
        model_options(sp)
        sp.add_argument("--picture", metavar="FILE", help="draw the graph with the changes marked (.svg, .png or .dot)")
        sp.add_argument("--picture-context", type=int, default=2, metavar="N",
                        help="layers of context kept around the changes when a large graph is folded (default 2)")
        if name == "plan":
            sp.add_argument("--explain", action="store_true", help="list every near miss and the predicate that failed")
        if name == "apply":
            sp.add_argument("-o", "--output", required=True, help="where to write the rewritten .keras model")
            sp.add_argument("--mode", choices=["clone", "inplace"], default="clone")
            sp.add_argument("--validate", choices=["full", "config", "none"], default="full")
            sp.add_argument("--eval", metavar="DATA.npz", help="arrays x and y: evaluate both models on them")
            sp.add_argument("--probe", metavar="DATA.npz", help="inputs for validation: array x, or one array per model input")
            sp.add_argument("--force", action="store_true", help="replace an existing output file")
        sp.set_defaults(func=func)

    g = sub.add_parser("graph", help="print a model's graph of layer calls")
    g.add_argument("model")
    g.add_argument("--format", choices=["text", "dot", "json"], default="text")
    model_options(g)
    g.set_defaults(func=cmd_graph)

    se = sub.add_parser("search", help="write the variants of a parametric rule file")
    se.add_argument("model")
    se.add_argument("rules", nargs="+")
    how = se.add_mutually_exclusive_group(required=True)
    how.add_argument("--grid", action="store_true", help="every combination of the params")
    how.add_argument("--sample", type=int, metavar="N", help="N random draws")
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--set", action="append", metavar="NAME=VALUE", help="fix a param (repeatable)")
    se.add_argument("-o", "--output", required=True, help="folder for the variants and the index")
    se.add_argument("--validate", choices=["full", "config", "none"], default="config")
    se.add_argument("--force", action="store_true", help="write over an earlier search in the folder")
    se.add_argument("--jobs", type=int, default=1, metavar="N", help="build and save the variants in N worker processes")
    se.add_argument(
        "--drift", action="store_true", help="measure each variant's output drift against the model (a forward pass of each on the probe batch)"
    )
    model_options(se)
    se.set_defaults(func=cmd_search)

    df = sub.add_parser("diff", help="compare two models layer by layer")
    df.add_argument("old")
    df.add_argument("new")
    df.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    model_options(df)
    df.set_defaults(func=cmd_diff)

    sp = sub.add_parser("show-provenance", help="which rules made a .keras model")
    sp.add_argument("model")
    sp.set_defaults(func=cmd_show_provenance)

    t = sub.add_parser("test", help="run rule tests (<rule>.test.toml beside <rule>.rw)")
    t.add_argument("paths", nargs="*", help="test files, rule files or folders (default: .)")
    t.add_argument("--update", action="store_true", help="rewrite the plan snapshots")
    t.set_defaults(func=cmd_test)

    d = sub.add_parser("demo", help="rewrite a built-in model with a bundled rule file")
    d.add_argument("--out-dir", help="where to write the result (default: a new temporary folder)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_demo)
    return p


# What TensorFlow's native code prints while it loads, whatever TF_CPP_MIN_LOG_LEVEL
# says: absl's notice that logging is not set up yet, and oneDNN's INFO line.
_STARTUP_NOISE = re.compile(r"All log messages before absl::InitializeLog\(\) is called|\] oneDNN custom operations are on")


def import_backend_quietly() -> None:
    """Import Keras (and its backend) with the backend's start-up notices held back.

    TensorFlow prints them from native code, past Python's `sys.stderr`, even
    with TF_CPP_MIN_LOG_LEVEL=3. While Keras is imported, file descriptor 2 goes
    to a temporary file; afterwards every line of it except those notices is
    written to stderr, in order. With TF_CPP_MIN_LOG_LEVEL set to 0 nothing is
    held back.
    """
    if "keras" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        import keras  # noqa: F401

        return
    import tempfile

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (a daemon with stderr closed): nothing to hold back
        import keras  # noqa: F401

        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _STARTUP_NOISE.search(line)))
            sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    if args.func not in (cmd_check, cmd_show_provenance):  # these read files only
        import_backend_quietly()
    try:
        return int(args.func(args))
    except RuleSyntaxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RuleCheckError as exc:
        for d in exc.diagnostics:
            print(d, file=sys.stderr)
        return 1
    except (RewriteError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
