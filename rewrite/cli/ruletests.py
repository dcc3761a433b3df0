"""Rule tests: a declarative `<rule>.test.toml` beside each `<rule>.rw`.

    model = "rewrite.zoo:cnn"          # module:callable that builds the model
    rules = "fold-bn.rw"               # default: the file named like the test
    params = { act = "gelu" }          # optional
    mode = "inplace"                   # optional: the rewrite mode (default "clone")
    in_memory = true                   # optional: changes a save would lose are allowed

    [expect]
    matched = ["conv1", "bn1"]         # layers the rules must match (all of them)
    not_matched = ["fc_out"]           # layers they must not match
    removed = ["bn1"]                  # layers gone from the result
    added = ["fc1_dropout"]            # layers new in the result
    outputs = "equal"                  # or "changed" (with atol, default 1e-5)
    atol = 1e-5

    [expect.fields]                    # field values in the result
    "fc1.activation" = "gelu"

Running a test applies the rules with full validation, checks each expectation
and compares the plan with the snapshot `<rule>.plan.json` beside it (written the
first time, refreshed with `--update`). Every failure names the expectation.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewrite.cli.options import coloured
from rewrite.cli.outcome import FAILED, OK, print_document
from rewrite.errors import RewriteError, UsageError, root_cause
from rewrite.io.loading import load_model
from rewrite.io.saving import write_text_atomic
from rewrite.lang import ast
from rewrite.lang.expressions import equal
from rewrite.report.data import jsonable
from rewrite.ruleset import load
from rewrite.validation.checks import CHANGED_RTOL

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUFFIX = ".test.toml"


@dataclass
class RuleTestOutcome:
    name: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def discover(paths: list[str | Path]) -> list[Path]:
    """Test files under the given files or folders (default: the current folder)."""
    found: list[Path] = []
    for p in [Path(x) for x in paths] or [Path(".")]:
        if p.is_file() and p.name.endswith(SUFFIX):
            found.append(p)
        elif p.is_file() and p.suffix == ".rw":
            twin = p.with_name(p.stem + SUFFIX)
            if twin.exists():
                found.append(twin)
        elif p.is_dir():
            found += sorted(p.rglob(f"*{SUFFIX}"))
    return sorted(dict.fromkeys(found))


def _plan_snapshot(report: Any) -> list[dict[str, Any]]:
    """What the plan decided, without timings: the part a reviewer reads."""
    out = []
    for s in report.statements:
        entry = {
            "statement": s.source,
            "rule": s.rule,
            "matches": s.matches,
            "changes": [[c.layer, c.field, _plain(c.old), _plain(c.new)] for c in s.changes],
            "structure": [[c.kind, c.layer, c.new] for c in s.structure],
            "skips": [[k.layer, k.reason] for k in s.skips],
        }
        if s.pruned:  # each channel group: its producers, its channels before and after, the ones kept
            entry["pruned"] = [[g.producers, g.channels_before, g.channels_after, g.kept] for g in s.pruned]
        out.append(entry)
    if getattr(report, "cost", None) is not None:
        c = report.cost
        out.append({"cost": {"params": [c.params_before, c.params_after], "macs": [c.macs_before, c.macs_after]}})
    return out


def _plain(value: Any) -> Any:

    return jsonable(value)


def _layers(model: Any) -> dict[str, Any]:
    """Every layer by slash path, nested models included."""
    import keras

    found: dict[str, Any] = {}
    stack = [("", model)]
    while stack:
        prefix, m = stack.pop()
        for layer in m.layers:
            path = f"{prefix}{layer.name}"
            found[path] = layer
            if isinstance(layer, keras.Model):
                stack.append((f"{path}/", layer))
    return found


def _module_root(test: Path, model: str) -> str:
    """The nearest folder, from the test's own upwards, that holds the builder's module."""
    top = model.split(":", 1)[0].split(".", 1)[0]
    for folder in [test.parent.resolve(), *test.parent.resolve().parents]:
        if (folder / f"{top}.py").exists() or (folder / top / "__init__.py").exists():
            return str(folder)
    return str(Path.cwd())


def run_test(path: Path, update: bool = False) -> RuleTestOutcome:

    spec = tomllib.loads(path.read_text("utf-8"))
    stem = path.name[: -len(SUFFIX)]
    outcome = RuleTestOutcome(name=str(path))
    rules_path = path.parent / spec.get("rules", f"{stem}.rw")
    expect = spec.get("expect", {})
    root = _module_root(path, str(spec.get("model", "")))
    sys.path.insert(0, root)  # the model builder's module, beside the rules or above them
    top = str(spec.get("model", "")).split(":", 1)[0].split(".", 1)[0]
    if top and not top.startswith("rewrite"):
        # another project's `models` may have been imported before: import this one
        for name in [m for m in sys.modules if m == top or m.startswith(f"{top}.")]:
            del sys.modules[name]
    try:
        rules = load(rules_path)
        model = load_model(spec["model"])
        before = _layers(model)
        result = rules.apply(
            model, params=spec.get("params", {}), mode=spec.get("mode", "clone"), in_memory=bool(spec.get("in_memory", False))
        )
    except (RewriteError, KeyError, ValueError) as exc:
        outcome.failures.append(f"applying {rules_path.name} failed: {type(exc).__name__}: {exc}")
        return outcome
    finally:
        sys.path.remove(root)
    report, after = result.report, _layers(result.model)
    matched = {m for s in report.statements for m in s.matches}
    for name in expect.get("matched", []):
        if name not in matched:
            outcome.failures.append(f"expect.matched: `{name}` was not matched (matched: {sorted(matched)})")
    for name in expect.get("not_matched", []):
        if name in matched:
            outcome.failures.append(f"expect.not_matched: `{name}` was matched")
    for name in expect.get("removed", []):
        if name in after:
            outcome.failures.append(f"expect.removed: `{name}` is still in the result")
        elif name not in before:
            outcome.failures.append(f"expect.removed: the model has no layer `{name}`")
    for name in expect.get("added", []):
        if name not in after or name in before:
            outcome.failures.append(f"expect.added: `{name}` is not a new layer of the result")
    from rewrite.validation.effects import find_layer  # imports Keras: only once a test runs

    for key, wanted in expect.get("fields", {}).items():
        layer_path, _, field_name = key.rpartition(".")
        layer = after.get(layer_path) or find_layer(result.model, layer_path)  # a sublayer, by its path
        if layer is None:
            outcome.failures.append(f"expect.fields: no layer `{layer_path}` in the result")
            continue

        got = layer.get_config().get(field_name, getattr(layer, field_name, None))
        if not equal(field_name, got, wanted):
            outcome.failures.append(f"expect.fields: `{key}` is {_plain(got)!r}, expected {wanted!r}")
    if "outputs" in expect:
        atol = float(expect.get("atol", ast.DEFAULT_ATOL))
        worst = max((d.max_abs for d in report.drift), default=0.0)
        worst_rel = max((d.max_rel for d in report.drift), default=0.0)
        if expect["outputs"] == "equal" and worst > atol:
            outcome.failures.append(f"expect.outputs = equal: outputs moved by {worst:.3g} (atol {atol:g})")
        if expect["outputs"] == "changed" and worst <= atol and worst_rel <= CHANGED_RTOL:
            outcome.failures.append(f"expect.outputs = changed: outputs moved by only {worst:.3g}")
    snapshot = path.with_name(f"{stem}.plan.json")
    current = _plan_snapshot(report)
    text = json.dumps(current, indent=1) + "\n"
    if update or not snapshot.exists():

        write_text_atomic(snapshot, text)
        outcome.notes.append(f"wrote {snapshot.name}")
    else:
        stored = snapshot.read_text()
        if json.loads(stored) != current:
            outcome.failures.append(
                f"the plan differs from the snapshot {snapshot.name}; review the change and run `keras-rewrite test --update` "
                f"if it is intended:\n{snapshot_diff(stored, text, snapshot.name)}"
            )
    return outcome


def snapshot_diff(stored: str, current: str, name: str) -> str:
    """The unified diff from the stored snapshot to the plan of this run (both normalized)."""
    def lines(text: str) -> list[str]:
        return (json.dumps(json.loads(text), indent=1) + "\n").splitlines(keepends=True)

    diff = difflib.unified_diff(lines(stored), lines(current), f"{name} (snapshot)", f"{name} (this run)")
    return "".join(diff).rstrip("\n")


def run_one(path: Path, update: bool = False) -> RuleTestOutcome:
    """One rule test; a test file that cannot be read is one failure, not an exception."""
    try:
        return run_test(path, update=update)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError, TypeError, AttributeError) as exc:
        return RuleTestOutcome(name=str(path), failures=[f"cannot read this test file: {root_cause(exc)}"])


def run(paths: list[str | Path], update: bool = False, echo: Any = print) -> list[RuleTestOutcome]:
    outcomes = []
    for path in discover(paths):
        outcome = run_one(path, update)
        outcomes.append(outcome)
        status = "PASS" if outcome.passed else "FAIL"
        echo(f"{status} {outcome.name}" + (f" ({'; '.join(outcome.notes)})" if outcome.notes else ""))
        for failure in outcome.failures:
            echo(f"     {failure}")
    passed = sum(o.passed for o in outcomes)
    echo(f"{passed} passed, {len(outcomes) - passed} failed")
    return outcomes


def cmd_test(args: argparse.Namespace) -> int:
    as_json = args.format == "json"
    outcomes = run(args.paths, update=args.update, echo=(lambda _: None) if as_json else (lambda text: print(coloured(text))))
    if not outcomes:
        raise UsageError(f"no rule tests found under {', '.join(args.paths) or '.'} (files named <rule>{SUFFIX})")
    code = OK if all(o.passed for o in outcomes) else FAILED
    if as_json:
        tests = [{"name": o.name, "passed": o.passed, "failures": o.failures, "notes": o.notes} for o in outcomes]
        passed = sum(o.passed for o in outcomes)
        payload = {"passed": passed, "failed": len(outcomes) - passed, "tests": tests}
        return print_document("test", "ok" if code == OK else "failed", code, payload)
    return code
