"""The shape of the package: stages import only the stages below them, never in a circle.

The layers, bottom to top, are the pipeline of docs/design-notes.md. Every import
inside `rewrite/` counts, at module level or in a function body, and under
`TYPE_CHECKING` too: a circle that only type checkers see is still a circle a
reader has to untangle.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rewrite"

# Bottom to top. A module may import its own layer (its own subpackage) and the layers below.
LAYERS: list[tuple[str, ...]] = [
    ("rewrite.errors", "rewrite.transforms", "rewrite.progress", "rewrite._keras_private", "rewrite._version", "rewrite.modes", "rewrite.keras_archive", "rewrite._tf_storage"),
    ("rewrite.lang",),
    ("rewrite.report",),
    ("rewrite.graphview",),
    ("rewrite.planner",),
    ("rewrite.build",),
    ("rewrite.validation",),
    ("rewrite.io",),
    ("rewrite.picture",),
    ("rewrite.result",),
    ("rewrite.engine",),
    ("rewrite.search", "rewrite.options"),
    ("rewrite.ruleset",),
    ("rewrite.api", "rewrite.tuner", "rewrite.zoo", "rewrite._catalog_gen"),
    ("rewrite.cli",),
    ("rewrite", "rewrite.__main__", "rewrite.pytest_plugin"),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, ast.AST, bool]]:
    """(imported rewrite module, node, inside a function) for every import in a module."""
    tree = ast.parse(path.read_text())
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    in_function: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(fn) if n is not fn)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) if node.level else node.module or ""
            targets = [f"{base}.{a.name}" for a in node.names] or [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and not (name.startswith(target + ".") and MODULES[target].name == "__init__.py"):
                out.append((target, node, id(node) in in_function))
    return out


def _layer(module: str) -> int:
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"`{module}` is in no layer of tests/test_layers.py; add it where it belongs"
    return best[0]


def _package(module: str) -> str:
    for prefixes in LAYERS:
        for prefix in prefixes:
            if prefix != "rewrite" and (module == prefix or module.startswith(prefix + ".")):
                return prefix
    return module


def test_every_module_belongs_to_a_layer():
    for module in MODULES:
        _layer(module)


def test_no_import_circle():
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for name, path in MODULES.items():
        graph.add_edges_from((name, target) for target, _, _ in _imports(name, path))
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_no_stage_imports_a_stage_above_it():
    upward = [edge for name, path in MODULES.items() for edge in _upward(name, path)]
    assert not upward, "imports from a lower stage up to a higher one:\n" + "\n".join(upward)


def test_imports_inside_functions_say_why():
    """An import of the package's own code in a function body keeps Keras (or an
    optional dependency) off a path that must not pay for it; it says so."""
    silent = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for _, node, in_function in _imports(name, path):
            line = getattr(node, "lineno", 1)
            above = line - 2  # the comment may head a block of imports
            while above >= 0 and lines[above].lstrip().startswith(("from ", "import ")):
                above -= 1
            if in_function and "#" not in lines[line - 1] and not lines[above].strip().startswith("#"):
                silent.append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    assert not silent, "imports in function bodies without a comment saying why:\n" + "\n".join(sorted(set(silent)))


def test_subpackage_faces_only_re_export():
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        defined = [n for n in body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign))]
        assigned = [t.id for n in body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
        assert not defined and set(assigned) <= {"__all__"}, f"{name}/__init__.py defines code; it should only re-export"


def test_the_package_has_no_module_past_the_size_of_one_job():
    big = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 450}
    assert not big, f"modules over 450 lines (split them by job): {big}"


LANG = sorted(name for name in MODULES if name.startswith("rewrite.lang."))


@pytest.mark.parametrize("module", LANG)
def test_lang_modules_import_no_keras(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing {module} imported {proc.stdout.strip()}"


def _upward(name: str, path: Path) -> list[str]:
    return [
        f"{name} -> {target}"
        for target, _, _ in _imports(name, path)
        if _package(target) != _package(name) and _layer(target) > _layer(name)
    ]


def test_the_checks_see_what_they_are_for(tmp_path):
    """An upward import and a silent import in a function are found in a module made for it."""
    fake = tmp_path / "fake.py"
    fake.write_text("from rewrite.engine import run\n\n\ndef f():\n    from rewrite.build import clone\n")
    assert _upward("rewrite.lang.fake", fake) == ["rewrite.lang.fake -> rewrite.engine", "rewrite.lang.fake -> rewrite.build.clone"]
    inside = [(t, f) for t, _, f in _imports("rewrite.lang.fake", fake)]
    assert ("rewrite.build.clone", True) in inside and ("rewrite.engine", False) in inside
    assert _upward("rewrite.cli.fake", fake) == []


def test_weight_policies_have_one_source():
    """The parser's list of policies and the planner's ranking both come from the AST's type."""
    from rewrite.lang import ast as rule_ast
    from rewrite.lang.parser import parse
    from rewrite.planner.plan import POLICY_ORDER

    assert set(POLICY_ORDER) == set(rule_ast.WEIGHT_POLICIES) == {"keep", "reinit", "slice", "widen", "identity", "prune"}
    with pytest.raises(Exception, match="use one of keep, reinit, slice, widen, identity, prune"):
        parse("Dense.units := 3 using weights=stretch")
