"""Every `rw` block in the docs parses and checks; every `python` block runs.

The examples in the docstrings that docs/reference.md renders run too, and the
site builds with `mkdocs build --strict`.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rewrite

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(lang):
    for path in DOCS:
        for i, m in enumerate(FENCE.finditer(path.read_text())):
            if m.group(1) == lang:
                yield pytest.param(m.group(2), id=f"{path.name}-{i}")


@pytest.mark.parametrize("text", list(blocks("rw")))
def test_rw_examples_check(text, tmp_path):
    path = tmp_path / "doc.rw"
    path.write_text(text)
    rs = rewrite.load(path)  # from a file, so `use` resolves
    assert rs.statements


def test_cookbook_covers_every_ready_made_rule():
    cookbook = (ROOT / "docs" / "cookbook.md").read_text()
    for rule in sorted((ROOT / "rules" / "std").glob("*.rw")):
        assert f"## {rule.stem}\n" in cookbook, f"docs/cookbook.md lacks {rule.name}"
        body = "\n".join(line for line in rule.read_text().splitlines() if not line.startswith("#")).strip()
        assert body in cookbook, f"docs/cookbook.md shows an old version of {rule.name}"


RUN_ELSEWHERE = "# run by tests/"
"""A block that starts so is run by the test it names (one that may skip), not here."""


def programs():
    """The python blocks of each page, joined: a page's examples build on each other."""
    for path in DOCS:
        code = "\n".join(
            m.group(2) for m in FENCE.finditer(path.read_text()) if m.group(1) == "python" and not m.group(2).startswith(RUN_ELSEWHERE)
        )
        if code:
            yield pytest.param(code, id=path.name)


@pytest.mark.parametrize("code", list(programs()))
def test_python_examples_run(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "tanh-head.rw").write_text((ROOT / "rules" / "tanh-head.rw").read_text())
    exec(compile(code, "<doc>", "exec"), {"__name__": "__doc_example__"})
    out = capsys.readouterr().out
    for expected in re.findall(r"^# (\S.*)$", code, re.M):
        if ": error[" in expected:
            assert expected in out


# ------------------------------------------------------------------ the API reference

REFERENCE = ROOT / "docs" / "reference.md"
DIRECTIVE = re.compile(r"^::: ([\w.]+)\n((?:[ \t]+\S.*\n)*)", re.M)


def reference_objects():
    """(dotted name, object) for everything docs/reference.md renders with `::: path`."""
    for m in DIRECTIVE.finditer(REFERENCE.read_text()):
        path = m.group(1)
        try:
            module = importlib.import_module(path)
        except ImportError as exc:  # rewrite.tuner without the `tuner` extra
            yield pytest.param(path, None, id=path, marks=pytest.mark.skip(reason=f"{path} needs {exc.name}"))
            continue
        members = re.findall(r"^\s+- (\w+)$", m.group(2), re.M)
        if not members:
            yield pytest.param(path, module, id=path)
            members = list(module.__all__)
        for name in members:
            yield pytest.param(f"{path}.{name}", getattr(module, name), id=f"{path}.{name}")


def doc_model():
    """The `model` the docstring examples use (docs/reference.md describes it)."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="fc1")(inputs)
    h = keras.layers.Dense(12, activation="relu", name="fc2")(h)
    h = keras.layers.Dropout(0.2, name="drop")(h)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(h), name="doc_model")


@pytest.mark.parametrize(("name", "obj"), list(reference_objects()))
def test_reference_docstring_examples_run(name, obj, tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    globs = {"rewrite": rewrite, "np": np, "Path": Path, "model": doc_model()}
    # A module's own docstring only: its members are listed (and run) one by one.
    finder = doctest.DocTestFinder(recurse=not inspect.ismodule(obj))
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(obj, name, module=inspect.getmodule(obj), globs=globs)
    for test in tests:
        runner.run(test, out=lambda text: print(text, end=""))
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} docstring example(s) of {name} failed (see the output above)"


def test_every_public_function_has_an_example():
    functions = [name for name in rewrite.__all__ if inspect.isfunction(getattr(rewrite, name))]
    assert len(functions) >= 8
    for name in functions:
        assert ">>>" in (getattr(rewrite, name).__doc__ or ""), f"rewrite.{name} has no example in its docstring"


def test_reference_renders_the_whole_public_api():
    text = REFERENCE.read_text()
    assert re.search(r"^::: rewrite$", text, re.M), "docs/reference.md lost its `::: rewrite` directive"
    for name in ("rewrite.transforms", "rewrite.search", "rewrite.report.data"):
        assert f"::: {name}\n" in text


# ------------------------------------------------------------------ the site


def test_docs_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    for page in DOCS[1:]:
        built = site / (page.stem if page.stem != "index" else "") / "index.html"
        assert built.exists(), f"{page.name} was not built"
    reference = (site / "reference" / "index.html").read_text()
    for name in rewrite.__all__:
        assert f'id="rewrite.{name}"' in reference, f"the API reference lacks rewrite.{name}"
