"""`search --jobs N`: variants built, validated and saved in worker processes."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from rewrite.cli.options import load_rules, loaded_model_cache
from rewrite.cli.quiet import import_backend_quietly
from rewrite.cli.search_index import VariantDuplicate, VariantFailed, VariantWritten, save_variant
from rewrite.errors import RewriteError
from rewrite.io.loading import custom_objects_from, load_model
from rewrite.io.saving import save_atomic
from rewrite.progress import Progress

_WORKER: dict[str, Any] = {}


def start_worker(args: argparse.Namespace, model_path: str) -> None:
    """In each worker process, once: the rules, the model (from a file, so every
    worker starts from the same weights) and what variants of it share."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import_backend_quietly()
    custom = custom_objects_from(args.custom_objects)
    model = load_model(model_path, custom, not args.unsafe)
    _WORKER.update(args=args, rules=load_rules(args), custom=custom, model=model, cache=loaded_model_cache(model_path, model))


def build_in_worker(index: int, params: dict[str, Any]) -> VariantWritten | VariantFailed:
    """Build, validate and save one variant in a worker; an expected failure comes
    back as data, never raised (an exception may not survive the trip between processes)."""
    from rewrite.engine import run  # imported by start_worker already, after the backend's notices

    w, args = _WORKER, _WORKER["args"]
    try:
        result = run(
            w["rules"], w["model"], params=params, validate=args.validate, custom_objects=w["custom"],
            safe_mode=not args.unsafe, cache=w["cache"], drift=args.drift,
        )
        return save_variant(index, params, result.model, result.report, w["rules"], Path(args.output))
    except (RewriteError, ValueError) as exc:
        return VariantFailed(index, params, str(exc))


def write_variants_in_processes(
    args: argparse.Namespace, rules: Any, model: Any, params_list: list[dict[str, Any]], out_dir: Path, bar: Progress
) -> list[VariantWritten | VariantDuplicate]:
    """--jobs N: plans here (duplicates are found before anything is built), then
    N worker processes build, validate and save the distinct variants."""
    # Not at the top: worker processes import this module before start_worker holds
    # back the backend's start-up notices, and the engine imports Keras.
    from rewrite.engine import ModelCache
    from rewrite.search import planned  # (as above)

    outcomes: dict[int, VariantWritten | VariantDuplicate] = {}
    todo: list[tuple[int, dict[str, Any]]] = []
    for v in planned(rules, model, params_list, ModelCache.of(model)):
        if v.duplicate_of is not None:
            outcomes[v.index] = duplicate = VariantDuplicate(v.index, v.params, v.duplicate_of)
            bar.step(f"[{v.index + 1}/{len(params_list)}] {v.params}: {duplicate.progress()}")
        else:
            todo.append((v.index, v.params))
    with tempfile.TemporaryDirectory(prefix="keras-rewrite-search-") as tmp:
        model_path = args.model
        if Path(model_path).suffix not in (".keras", ".h5"):  # built by a callable: the workers get this very model
            model_path = str(Path(tmp) / "base.keras")
            save_atomic(model, Path(model_path))
        bar.note(f"building {len(todo)} variant(s) in {args.jobs} worker processes")
        context = multiprocessing.get_context("spawn")  # never fork a process that holds TensorFlow
        with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=start_worker, initargs=(args, model_path)) as pool:
            pending = {pool.submit(build_in_worker, index, params) for index, params in todo}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        try:
                            outcome = future.result()
                        except BrokenProcessPool as exc:
                            raise RewriteError(
                                f"a worker process ended without a result ({exc}); it may have run out of memory. "
                                "The files written so far are whole; no index was written. Try fewer --jobs"
                            ) from None
                        if isinstance(outcome, VariantFailed):
                            raise RewriteError(f"variant {outcome.index} {outcome.params}: {outcome.error}")
                        outcomes[outcome.index] = outcome
                        bar.step(f"[{outcome.index + 1}/{len(params_list)}] {outcome.params}: {outcome.progress()}")
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    return [outcomes[i] for i in sorted(outcomes)]
