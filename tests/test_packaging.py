"""The grammar, the catalogue and the bundled rules load from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_package_data_and_works_outside_the_source_tree(tmp_path):
    wheel_dir = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheel_dir.glob("keras_rewrite-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "rewrite/grammar/rules.lark",
        "rewrite/grammar/ast.schema.json",
        "rewrite/catalog.json",
        "rewrite/rules/tanh-head.rw",
        "rewrite/rules/std/fold-bn.rw",
        "rewrite/rules/std/fold-bn.test.toml",
        "rewrite/py.typed",
    ):
        assert data in names, data
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rewrite\n"
        "from rewrite.demo import demo_rules_path\n"
        "assert rewrite.__file__.startswith(sys.argv[1]), rewrite.__file__\n"
        "rs = rewrite.load(demo_rules_path())\n"
        "assert str(demo_rules_path()).startswith(sys.argv[1])\n"
        "from rewrite.ruleset import library_root\n"
        "assert str(library_root()).startswith(sys.argv[1]), library_root()\n"
        "assert rewrite.load('keras-rewrite:std/fold-bn.rw').rules[0].id == 'fold-bn'\n"
        "print('OK', len(rs.statements))\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.stdout.strip() == "OK 2", run.stdout + run.stderr
