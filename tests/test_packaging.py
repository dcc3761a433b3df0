"""The grammar, the catalogue and the bundled rules load from an installed wheel,
and `pip install "keras-rewrite[tensorflow]"` into a fresh venv gives a working CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    wheel_dir = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (built,) = wheel_dir.glob("keras_rewrite-*.whl")
    return built


def test_wheel_carries_package_data_and_works_outside_the_source_tree(wheel, tmp_path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "rewrite/grammar/rules.lark",
        "rewrite/grammar/ast.schema.json",
        "rewrite/grammar/cli-output.schema.json",
        "rewrite/grammar/report.schema.json",
        "rewrite/lang/catalog.json",
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
        "from rewrite.cli.demo import demo_rules_path\n"
        "assert rewrite.__file__.startswith(sys.argv[1]), rewrite.__file__\n"
        "rs = rewrite.load(demo_rules_path())\n"
        "assert str(demo_rules_path()).startswith(sys.argv[1])\n"
        "from rewrite.lang.loader import library_root\n"
        "assert str(library_root()).startswith(sys.argv[1]), library_root()\n"
        "assert rewrite.load('keras-rewrite:std/fold-bn.rw').rules[0].id == 'fold-bn'\n"
        "from rewrite.lang.resources import package_path\n"
        "from rewrite.lang.catalog import catalog\n"
        "assert str(package_path('rewrite.lang', 'rewrite/lang', 'catalog.json')).startswith(sys.argv[1])\n"
        "assert catalog().knows('Dense')\n"
        "print('OK', len(rs.statements))\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.stdout.strip() == "OK 2", run.stdout + run.stderr


def test_wheel_installs_into_a_fresh_venv_and_runs_the_demo(wheel, tmp_path):
    """What a user does: a new venv, `pip install "keras-rewrite[tensorflow]"`, `keras-rewrite demo`.

    The first run downloads TensorFlow; later runs take it from pip's cache.
    """
    venv = tmp_path / "venv"
    try:
        _install_and_run_demo(wheel, venv, tmp_path)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # TensorFlow: over a GB per run otherwise left in /tmp


def _install_and_run_demo(wheel: Path, venv: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    # --no-compile: byte-compiling all of TensorFlow is much of an install's time;
    # Python compiles the modules the demo imports when it imports them.
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check", f"{wheel}[tensorflow]"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    work = tmp_path / "work"  # outside the source tree: nothing can come from the checkout
    work.mkdir()
    demo = subprocess.run(
        [str(venv / "bin" / "keras-rewrite"), "demo", "--out-dir", str(work)],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    assert "validation PASSED" in lines, demo.stdout
    (rules_line,) = [line for line in lines if line.startswith("rules: ")]
    rules_path = Path(rules_line.removeprefix("rules: "))
    assert rules_path.is_relative_to(venv) and rules_path.name == "tanh-head.rw", rules_line
    assert (work / "demo_rewritten.keras").stat().st_size > 0

    where = subprocess.run(
        [str(python), "-c", "import rewrite, pathlib; p = pathlib.Path(rewrite.__file__).parent; "
         "print(p); print((p / 'py.typed').exists(), (p / 'grammar' / 'rules.lark').exists())"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=120,
    )
    package_dir, flags = where.stdout.splitlines()
    assert Path(package_dir).is_relative_to(venv), package_dir
    assert flags == "True True", where.stdout + where.stderr
