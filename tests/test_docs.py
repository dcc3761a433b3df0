"""Every `rw` block in the docs parses and checks; every `python` block runs."""

from __future__ import annotations

import re
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


def programs():
    """The python blocks of each page, joined: a page's examples build on each other."""
    for path in DOCS:
        code = "\n".join(m.group(2) for m in FENCE.finditer(path.read_text()) if m.group(1) == "python")
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
        if ": error:" in expected:
            assert expected in out
