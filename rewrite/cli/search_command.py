"""`keras-rewrite search`: every variant of a parametric rule set to .keras, with an index."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rewrite.cli.options import (
    input_files,
    load_rules,
    loaded_model_cache,
    params_from,
    progress_bar,
)
from rewrite.cli.outcome import OK, print_document
from rewrite.cli.search_index import VariantDuplicate, VariantWritten, save_variant, write_index
from rewrite.cli.search_workers import write_variants_in_processes
from rewrite.errors import OutputError
from rewrite.io.loading import custom_objects_from, load_model
from rewrite.io.saving import check_output
from rewrite.progress import Progress
from rewrite.search import variants


def cmd_search(args: argparse.Namespace) -> int:
    rules = load_rules(args)
    fixed = params_from(args, rules)
    if args.sample is not None:
        params_list = rules.sample(args.sample, seed=args.seed)
    else:
        params_list = rules.grid()
    params_list = [{**p, **fixed} for p in params_list]
    custom = custom_objects_from(args.custom_objects)
    out_dir = check_output(args.output, input_files(args, rules), folder=True)
    if (out_dir / "index.json").exists() and not args.force:
        raise OutputError(f"{out_dir} already holds a search (index.json); pass --force to write over it")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Built in a staging folder beside it: a failed search leaves the folder as it was.
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.search-", dir=out_dir.parent))
    try:
        with progress_bar(args, "search", total=len(params_list) + 1) as bar:
            bar.step(f"loading model {args.model}")
            model = load_model(args.model, custom, not args.unsafe)
            staged = argparse.Namespace(**{**vars(args), "output": str(staging)})
            outcomes = _write_variants(staged, rules, model, params_list, custom, staging, bar)
        _commit(staging, out_dir, outcomes)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    built = sum(1 for o in outcomes if isinstance(o, VariantWritten))
    if args.format == "json":
        index = json.loads((out_dir / "index.json").read_text())
        return print_document("search", "ok", OK, {"output": str(out_dir), "written": built, "duplicates": len(outcomes) - built, "index": index})
    print(f"{built} variant(s) written to {out_dir} ({len(outcomes) - built} duplicate(s) skipped); index.json, index.csv")
    return OK


def _commit(staging: Path, out_dir: Path, outcomes: list[VariantWritten | VariantDuplicate]) -> None:
    """Move the variants into place, the index last: an old index goes first, so no
    index ever names a file that is not the one it describes."""
    for name in ("index.json", "index.csv"):
        (out_dir / name).unlink(missing_ok=True)
    for outcome in outcomes:
        if isinstance(outcome, VariantWritten):
            os.replace(staging / outcome.file, out_dir / outcome.file)
    write_index(out_dir, outcomes)


def _write_variants(
    args: argparse.Namespace, rules: Any, model: Any, params_list: list[dict[str, Any]], custom: dict | None, out_dir: Path, bar: Progress
) -> list[VariantWritten | VariantDuplicate]:
    """Build and save each variant, one step of the bar each; what became of each."""
    if args.jobs > 1:
        return write_variants_in_processes(args, rules, model, params_list, out_dir, bar)
    outcomes: list[VariantWritten | VariantDuplicate] = []
    total = len(params_list)
    if total:
        bar.step(f"variant 1/{total} {params_list[0]}")
    cache = loaded_model_cache(args.model, model)
    options = dict(validate=args.validate, custom_objects=custom, safe_mode=not args.unsafe, drift=args.drift, cache=cache)
    for v in variants(rules, model, params_list, **options):
        outcome: VariantWritten | VariantDuplicate
        if v.duplicate_of is not None:
            outcome = VariantDuplicate(v.index, v.params, v.duplicate_of)
        else:
            outcome = save_variant(v.index, v.params, v.model, v.report, rules, out_dir)
        bar.note(f"[{v.index + 1}/{total}] {v.params}: {outcome.progress()}")
        outcomes.append(outcome)
        if v.index + 1 < total:
            bar.step(f"variant {v.index + 2}/{total} {params_list[v.index + 1]}")
    return outcomes
