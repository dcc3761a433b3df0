"""What several commands share: progress bars, --set values, rule files, data files."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import IO, Any

from rewrite.errors import RewriteError, RuleCheckError, UsageError
from rewrite.lang.expressions import evaluate
from rewrite.lang.parser import parse
from rewrite.progress import Progress, interactive
from rewrite.ruleset import load


def progress_bar(args: argparse.Namespace, label: str, total: int | None = None) -> Progress:
    """The command's progress bar: drawn on stderr at a terminal, never with --json."""
    return Progress(label, total, enabled=False if getattr(args, "format", "text") == "json" else None)


_VERDICTS = re.compile(r"\b(validation PASSED|validation FAILED)\b|^(PASS|FAIL)(?= )", re.M)
_COLOURS = {"PASS": "32", "FAIL": "31"}


def coloured(text: str, stream: IO[str] | None = None) -> str:
    """`text` with its verdicts coloured (PASSED green, FAILED red) when `stream` (stdout)
    is a terminal and NO_COLOR is not set; as it is everywhere else."""
    if "NO_COLOR" in os.environ or not interactive(stream if stream is not None else sys.stdout):
        return text

    def paint(m: re.Match[str]) -> str:
        word = m.group(0)
        code = _COLOURS["FAIL" if "FAIL" in word else "PASS"]
        return f"\x1b[1;{code}m{word}\x1b[0m"

    return _VERDICTS.sub(paint, text)


def parse_assignment(text: str) -> tuple[str, Any]:
    """`k=v` from --set; the value uses the rule language's literal syntax."""

    if "=" not in text:
        raise UsageError(f"--set takes NAME=VALUE, e.g. --set act=gelu. Received: {text!r}")
    name, value = text.split("=", 1)
    try:
        parsed = parse(f"param {name.strip()} = {value.strip()}", "--set")
    except RewriteError as exc:
        raise UsageError(f"--set {text}: not a NAME=VALUE the rule language reads ({getattr(exc, 'message', exc)})") from None
    return parsed.params[0].name, evaluate(parsed.params[0].default)


def params_from(args: argparse.Namespace, rules: Any) -> dict[str, Any]:
    """The --set values (parsed by argparse), each a declared param with a value inside its space."""
    given = dict(args.set or [])
    try:
        rules.resolve_params(given)
    except RuleCheckError as exc:
        raise UsageError("--set: " + "; ".join(d.message for d in exc.diagnostics)) from None
    return given


def load_rules(args: argparse.Namespace) -> Any:

    return load(*args.rules)


def loaded_model_cache(model_spec: str, model: Any) -> Any:
    """A `ModelCache` of `model` for the variants a search makes of it. A model
    loaded from a .keras/.h5 file was just built by Keras from its config, so its
    graph is known to deserialize: the config check of a rewrite that keeps that
    graph rebuilds the changed model's layers one at a time, never a second whole
    model (`validation.checks.graph_memo`)."""
    from rewrite.engine import ModelCache  # here: the engine imports Keras
    from rewrite.validation.checks import graph_memo  # likewise

    cache = ModelCache.of(model)
    if Path(model_spec).suffix in (".keras", ".h5"):
        cache.config_memo = graph_memo(model)
    return cache


def load_eval_data(path: str | None) -> tuple[Any, Any] | None:
    if not path:
        return None
    data = _arrays(path, "--eval")
    if "x" not in data or "y" not in data:
        raise UsageError(f"--eval {path} must hold arrays named `x` and `y`; it has {sorted(data.files)}")
    return data["x"], data["y"]


def load_probe_data(path: str | None) -> Any:
    """--probe DATA.npz: one array `x`, or one array per model input named after the input."""
    if not path:
        return None
    data = _arrays(path, "--probe")
    if "x" in data.files:
        return data["x"]
    if not data.files:
        raise UsageError(f"--probe {path} holds no arrays; save the inputs as `x` (np.savez(path, x=...))")
    return {name: data[name] for name in data.files}


def input_files(args: argparse.Namespace, rules: Any) -> list[Path]:
    """Every file the command reads: the model, each rule file and the files they `use`, data."""
    found = list(getattr(rules, "locations", {}).values())
    for name in ("model", "old", "new", "probe", "eval"):
        value = getattr(args, name, None)
        if value and Path(value).suffix:  # a file, not `module:callable`
            found.append(Path(value))
    return found


def _arrays(path: str, option: str) -> Any:
    """The arrays of a .npz file, or a UsageError that names the option and the file."""
    import numpy as np  # only the commands that take data files need it

    if not Path(path).is_file():
        raise UsageError(f"{option} {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{option} {path} is not a .npz file of arrays (np.savez(path, x=...)): {exc}") from exc
