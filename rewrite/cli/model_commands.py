"""Commands on one model or two: `plan`, `apply`, `graph`, `diff`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rewrite.cli.options import (
    coloured,
    input_files,
    load_eval_data,
    load_probe_data,
    load_rules,
    params_from,
    progress_bar,
)
from rewrite.cli.outcome import FAILED, OK, print_document
from rewrite.engine import dry_run
from rewrite.errors import OutputError
from rewrite.graphview.diff import diff_models
from rewrite.graphview.exports import graph, to_dot, to_json, to_text
from rewrite.io.loading import custom_objects_from, load_model
from rewrite.io.provenance import read
from rewrite.io.saving import MODEL_SUFFIXES, check_output
from rewrite.picture.draw import draw, picture_format
from rewrite.progress import Progress
from rewrite.report.diff import render


def _picture(args: argparse.Namespace, model: Any, report: Any, bar: Progress) -> str | None:
    """Draw the plan or rewrite to --picture, if asked; the line that says where it went."""
    if not args.picture:
        return None

    bar.step(f"drawing {args.picture}")
    drawn = draw(model, report, args.picture, context=args.picture_context)
    folded = f", {drawn.folded} unchanged layer calls folded" if drawn.folded else ""
    return f"drew {args.picture} ({drawn.boxes} boxes{folded}; {drawn.engine if drawn.engine != 'none' else 'Graphviz source'})"


def cmd_plan(args: argparse.Namespace) -> int:
    rules = load_rules(args)
    params = params_from(args, rules)
    if args.picture:
        picture_format(args.picture)
        check_output(args.picture, input_files(args, rules), force=True, creates_folders=False)
    with progress_bar(args, "plan", total=3 if args.picture else 2) as bar:
        bar.step(f"loading model {args.model}")
        model = load_model(args.model, custom_objects_from(args.custom_objects), not args.unsafe)

        bar.step("planning")
        report = dry_run(rules, model, params=params, strict=args.strict)
        drew = _picture(args, model, report, bar)
    code = FAILED if args.strict and any(not s.matches for s in report.statements) else OK
    if args.format == "json":
        return print_document("plan", "failed" if code else "ok", code, {**report.to_dict(), "picture": args.picture})
    print(coloured(report.render(explain=args.explain)))
    if drew:
        print(drew)
    return code


def cmd_apply(args: argparse.Namespace) -> int:
    rules = load_rules(args)
    params = params_from(args, rules)
    inputs = input_files(args, rules)
    check_output(args.output, inputs, force=args.force)
    if Path(args.output).suffix not in MODEL_SUFFIXES:
        raise OutputError(f"-o must end in .keras (or .h5); received {args.output!r}")
    evaluate, probe = load_eval_data(args.eval), load_probe_data(args.probe)
    custom = custom_objects_from(args.custom_objects)
    if args.picture:
        picture_format(args.picture)
        check_output(args.picture, inputs, force=True, creates_folders=False)
    with progress_bar(args, "apply") as bar:
        bar.reserved = 2 if args.picture else 1  # writing, drawing
        bar.step(f"loading model {args.model}")
        model = load_model(args.model, custom, not args.unsafe)
        result = rules.apply(
            model,
            params=params,
            mode=args.mode,
            validate=args.validate,
            strict=args.strict,
            evaluate=evaluate,
            probe=probe,
            custom_objects=custom,
            safe_mode=not args.unsafe,
            progress=bar,
            consume=True,  # the loaded model is this command's own: one copy of the weights at a time
        )
        bar.step(f"writing {args.output}")
        result.save(args.output, replace=args.force)
        drew = _picture(args, model, result.report, bar)
    if args.format == "json":
        return print_document("apply", "ok", OK, {**result.report.to_dict(), "output": args.output, "picture": args.picture})
    print(coloured(result.report.render()))
    print(f"wrote {args.output}")
    if drew:
        print(drew)
    return OK


def cmd_graph(args: argparse.Namespace) -> int:
    model = load_model(args.model, custom_objects_from(args.custom_objects), not args.unsafe)

    g = graph(model)
    if args.format == "dot":
        print(to_dot(g))
    elif args.format == "json":
        return print_document("graph", "ok", OK, to_json(g))
    else:
        print(to_text(g))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:

    custom = custom_objects_from(args.custom_objects)
    a = load_model(args.old, custom, not args.unsafe)
    b = load_model(args.new, custom, not args.unsafe)
    prov_a = read(args.old) if args.old.endswith(".keras") else None
    prov_b = read(args.new) if args.new.endswith(".keras") else None
    text = render(diff_models(a, b, prov_a, prov_b), args.format)
    if args.format == "json":
        return print_document("diff", "ok", OK, json.loads(text))
    print(text)
    return OK
