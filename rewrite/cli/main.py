"""The `keras-rewrite` command line: arguments, dispatch, and one clean error line per failure."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from rewrite._version import __version__
from rewrite.cli.outcome import USAGE, error_document, exit_code, print_document
from rewrite.cli.quiet import import_backend_quietly
from rewrite.errors import RewriteError, RuleCheckError, UsageError, ValidationFailure, root_cause


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line raises (exit 2, and JSON when asked) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(f"{self.prog}: {message}", usage=self.format_usage())


class CommandLineError(UsageError):
    def __init__(self, message: str, usage: str):
        super().__init__(message)
        self.usage = usage


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number, 1 or more; received {text!r}")
    return value


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number; received {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"takes a whole number, 0 or more; received {text!r}")
    return value


def _assignment(text: str) -> tuple[str, Any]:
    from rewrite.cli.options import parse_assignment  # the parser loads with --set only

    try:
        return parse_assignment(text)
    except RewriteError as exc:
        raise argparse.ArgumentTypeError(str(exc).splitlines()[0]) from None


def _picture(text: str) -> str:
    suffix = os.path.splitext(text)[1].lower()
    if suffix not in PICTURE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the suffix {suffix or '(none)'} names no picture format; use .svg, .png or .dot"
        )
    return text


PICTURE_SUFFIXES = (".svg", ".png", ".dot")


def _output_format(sp: argparse.ArgumentParser, *extra: str, helptext: str = "text for people, JSON for programs") -> None:
    sp.add_argument("--format", choices=["text", *extra, "json"], default="text", help=helptext)
    sp.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="keras-rewrite", description="Declarative graph rewrites for Keras 3 models.",
                epilog="exit codes: 0 ok, 1 the rewrite or a rule test failed, 2 usage, 3 rule errors, 4 model not loaded")
    p.add_argument("--debug", action="store_true", help="on an error, print the Python traceback too")
    p.add_argument("--version", action="version", version=f"keras-rewrite {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def model_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--custom-objects", metavar="MODULE:DICT", help="custom classes for loading, a dict in an importable module")
        sp.add_argument("--unsafe", action="store_true", help="load with safe_mode=False (Lambda layers); only for models you trust")

    c = sub.add_parser("check", help="check rule files (no model, no TensorFlow)")
    c.add_argument("files", nargs="+", help="rule files, folders (every *.rw below them), or - for standard input")
    _output_format(c, helptext="findings as text lines or one JSON object")
    c.set_defaults(handler=("file_commands", "cmd_check"))

    for name, helptext in (("plan", "dry run: matches, changes, near misses"), ("apply", "rewrite a model and write the result")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("model", help="a .keras/.h5 file or module:callable")
        sp.add_argument("rules", nargs="+", help=".rw rule files, applied in order")
        sp.add_argument("--set", action="append", type=_assignment, metavar="NAME=VALUE", help="set a param (repeatable)")
        sp.add_argument("--strict", action="store_true", help="a statement that matches nothing is an error")
        _output_format(sp, helptext="the report as text tables or JSON")
        model_options(sp)
        sp.add_argument("--picture", type=_picture, metavar="FILE", help="draw the graph with the changes marked (.svg, .png or .dot)")
        sp.add_argument("--picture-context", type=_whole, default=2, metavar="N",
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
    g.add_argument("model", help="a .keras/.h5 file or module:callable")
    _output_format(g, "dot", helptext="a table of calls, Graphviz DOT, or JSON")
    model_options(g)
    g.set_defaults(handler=("model_commands", "cmd_graph"))

    se = sub.add_parser("search", help="write the variants of a parametric rule file")
    se.add_argument("model", help="a .keras/.h5 file or module:callable")
    se.add_argument("rules", nargs="+", help=".rw rule files with `param` lines")
    how = se.add_mutually_exclusive_group(required=True)
    how.add_argument("--grid", action="store_true", help="every combination of the params")
    how.add_argument("--sample", type=_positive, metavar="N", help="N random draws")
    se.add_argument("--seed", type=int, default=0, help="the seed of --sample's draws (the same seed, the same draws)")
    se.add_argument("--set", action="append", type=_assignment, metavar="NAME=VALUE", help="fix a param (repeatable)")
    se.add_argument("-o", "--output", required=True, help="folder for the variants and the index")
    se.add_argument("--validate", choices=["full", "config", "none"], default="config",
                    help="config (default): checks without a reload; full: also save and reload each; none: no checks")
    se.add_argument("--force", action="store_true", help="write over an earlier search in the folder")
    se.add_argument("--jobs", type=_positive, default=1, metavar="N", help="build and save the variants in N worker processes")
    se.add_argument(
        "--drift", action="store_true", help="measure each variant's output drift against the model (a forward pass of each on the probe batch)"
    )
    _output_format(se, helptext="a line per variant, or the index as JSON")
    model_options(se)
    se.set_defaults(handler=("search_command", "cmd_search"))

    df = sub.add_parser("diff", help="compare two models layer by layer")
    df.add_argument("old", help="the model before (.keras/.h5 file or module:callable)")
    df.add_argument("new", help="the model after")
    _output_format(df, "markdown", helptext="text, a markdown table (pull requests), or JSON")
    model_options(df)
    df.set_defaults(handler=("model_commands", "cmd_diff"))

    sp = sub.add_parser("show-provenance", help="which rules made a .keras model")
    sp.add_argument("model", help="a .keras file")
    _output_format(sp, helptext="a summary, or the stored record as JSON")
    sp.set_defaults(handler=("file_commands", "cmd_show_provenance"))

    t = sub.add_parser("test", help="run rule tests (<rule>.test.toml beside <rule>.rw)")
    t.add_argument("paths", nargs="*", help="test files, rule files or folders (default: .)")
    t.add_argument("--update", action="store_true", help="rewrite the plan snapshots")
    _output_format(t, helptext="a line per test, or every result as JSON")
    t.set_defaults(handler=("ruletests", "cmd_test"))

    d = sub.add_parser("demo", help="rewrite a built-in model with a bundled rule file")
    d.add_argument("--out-dir", help="where to write the result (default: a new temporary folder)")
    _output_format(d, helptext="the report as text tables or JSON")
    d.set_defaults(handler=("demo", "cmd_demo"))

    co = sub.add_parser("completion", help="print a shell completion script (bash, zsh or fish)")
    co.add_argument("shell", choices=["bash", "zsh", "fish"], help="the shell to complete in")
    co.set_defaults(handler=("file_commands", "cmd_completion"))
    return p


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    """The command's function. Its module is imported here, on use: `check` and
    `show-provenance` must not pay for the Keras import the others need."""
    module, function = args.handler
    command: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(f"rewrite.cli.{module}"), function)
    return command


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except CommandLineError as exc:
        print(exc.usage.rstrip(), file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        if "--json" in argv or _asked_json(argv):
            print_document(_command_of(argv), "error", USAGE, {"error": {"type": "UsageError", "message": str(exc)}, "diagnostics": []})
        return USAGE
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    if args.handler[0] != "file_commands":  # the others load models
        import_backend_quietly()
    try:
        return int(_handler(args)(args))
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        report = exc.report if isinstance(exc, ValidationFailure) else None
        if report is not None and getattr(args, "format", None) != "json":  # the JSON document carries it
            from rewrite.cli.options import coloured  # here: only a model command has a report

            print(coloured(report.render()))  # which checks failed, and the cost table a budget is judged on
        _print_error(exc)
        code = exit_code(exc)
        if getattr(args, "format", None) == "json":
            print(json.dumps(error_document(args.command, exc, code), indent=2, default=str))
        return code


def _asked_json(argv: list[str]) -> bool:
    return any(a == "--format=json" or (a == "--format" and b == "json") for a, b in zip(argv, [*argv[1:], ""]))


def _command_of(argv: list[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


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
