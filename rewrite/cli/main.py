"""The `keras-rewrite` command line: arguments, dispatch, and one clean error line per failure."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

from rewrite._version import __version__
from rewrite.cli.quiet import import_backend_quietly
from rewrite.errors import RewriteError, RuleCheckError, root_cause


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="keras-rewrite", description="Declarative graph rewrites for Keras 3 models.")
    p.add_argument("--debug", action="store_true", help="on an error, print the Python traceback too")
    p.add_argument("--version", action="version", version=f"keras-rewrite {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def model_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--custom-objects", metavar="MODULE:DICT", help="custom classes for loading, a dict in an importable module")
        sp.add_argument("--unsafe", action="store_true", help="load with safe_mode=False (Lambda layers); only for models you trust")

    c = sub.add_parser("check", help="check rule files (no model, no TensorFlow)")
    c.add_argument("files", nargs="+", help="rule files, folders (every *.rw below them), or - for standard input")
    c.add_argument("--format", choices=["text", "json"], default="text", help="findings as text lines or one JSON object")
    c.set_defaults(handler=("file_commands", "cmd_check"))

    for name, helptext in (("plan", "dry run: matches, changes, near misses"), ("apply", "rewrite a model and write the result")):
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
            sp.add_argument("--mode", choices=["clone", "inplace"], default="clone",
                            help="clone: build a new model (default); inplace: set fields on the loaded model's layers")
            sp.add_argument("--validate", choices=["full", "config", "none"], default="full",
                            help="full: also save and reload the result (default); config: no reload; none: no checks")
            sp.add_argument("--eval", metavar="DATA.npz", help="arrays x and y: evaluate both models on them")
            sp.add_argument("--probe", metavar="DATA.npz", help="inputs for validation: array x, or one array per model input")
            sp.add_argument("--force", action="store_true", help="replace an existing output file")
        sp.set_defaults(handler=("model_commands", f"cmd_{name}"))

    g = sub.add_parser("graph", help="print a model's graph of layer calls")
    g.add_argument("model")
    g.add_argument("--format", choices=["text", "dot", "json"], default="text", help="a table of calls, Graphviz DOT, or JSON")
    model_options(g)
    g.set_defaults(handler=("model_commands", "cmd_graph"))

    se = sub.add_parser("search", help="write the variants of a parametric rule file")
    se.add_argument("model")
    se.add_argument("rules", nargs="+")
    how = se.add_mutually_exclusive_group(required=True)
    how.add_argument("--grid", action="store_true", help="every combination of the params")
    how.add_argument("--sample", type=int, metavar="N", help="N random draws")
    se.add_argument("--seed", type=int, default=0, help="the seed of --sample's draws (the same seed, the same draws)")
    se.add_argument("--set", action="append", metavar="NAME=VALUE", help="fix a param (repeatable)")
    se.add_argument("-o", "--output", required=True, help="folder for the variants and the index")
    se.add_argument("--validate", choices=["full", "config", "none"], default="config",
                    help="config (default): checks without a reload; full: also save and reload each; none: no checks")
    se.add_argument("--force", action="store_true", help="write over an earlier search in the folder")
    se.add_argument("--jobs", type=int, default=1, metavar="N", help="build and save the variants in N worker processes")
    se.add_argument(
        "--drift", action="store_true", help="measure each variant's output drift against the model (a forward pass of each on the probe batch)"
    )
    model_options(se)
    se.set_defaults(handler=("search_command", "cmd_search"))

    df = sub.add_parser("diff", help="compare two models layer by layer")
    df.add_argument("old")
    df.add_argument("new")
    df.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="text, a markdown table (pull requests), or JSON")
    model_options(df)
    df.set_defaults(handler=("model_commands", "cmd_diff"))

    sp = sub.add_parser("show-provenance", help="which rules made a .keras model")
    sp.add_argument("model")
    sp.set_defaults(handler=("file_commands", "cmd_show_provenance"))

    t = sub.add_parser("test", help="run rule tests (<rule>.test.toml beside <rule>.rw)")
    t.add_argument("paths", nargs="*", help="test files, rule files or folders (default: .)")
    t.add_argument("--update", action="store_true", help="rewrite the plan snapshots")
    t.set_defaults(handler=("ruletests", "cmd_test"))

    d = sub.add_parser("demo", help="rewrite a built-in model with a bundled rule file")
    d.add_argument("--out-dir", help="where to write the result (default: a new temporary folder)")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.set_defaults(handler=("demo", "cmd_demo"))
    return p


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    """The command's function. Its module is imported here, on use: `check` and
    `show-provenance` must not pay for the Keras import the others need."""
    module, function = args.handler
    command: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(f"rewrite.cli.{module}"), function)
    return command


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    if args.handler[0] != "file_commands":  # the others load models
        import_backend_quietly()
    try:
        return int(_handler(args)(args))
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        _print_error(exc)
        return 1


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends the command as Ctrl-C does: through every cleanup (temporary files go)."""
    raise SystemExit(128 + signum)


def _print_error(exc: Exception) -> None:
    """The error as a person reads it: the product's own message, or the root cause of another."""
    if isinstance(exc, RuleCheckError):
        for d in exc.diagnostics:
            print(d, file=sys.stderr)
    elif isinstance(exc, (RewriteError, ValueError)):
        print(f"error: {exc}", file=sys.stderr)
    else:
        print(f"error: {root_cause(exc)} (unexpected; run again with --debug for the traceback)", file=sys.stderr)
