"""Rule tests: the ready-made rules, and a sample repository that passes and then breaks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from rewrite.cli.main import main
from rewrite.cli.ruletests import discover

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "sample_repo"


# The ready-made rules' own tests (rules/std/*.test.toml) are collected by the
# pytest plugin (testpaths include rules/): each is an item of this suite.


def test_the_pytest_plugin_is_registered_and_collects_rule_tests():
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="pytest11") if e.name == "keras_rewrite"] == ["rewrite.pytest_plugin"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", str(ROOT / "rules" / "std")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    collected = [line for line in out.stdout.splitlines() if ".test.toml::" in line]
    assert len(collected) == len(discover([ROOT / "rules" / "std"])) >= 10, out.stdout + out.stderr


def test_pytest_runs_a_repositorys_rule_tests_with_junit_and_a_diff(repo, tmp_path):
    junit = tmp_path / "junit.xml"
    run = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(repo / "rules"), f"--junitxml={junit}"]
    out = subprocess.run(run, capture_output=True, text=True, cwd=repo, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    assert sorted(c.get("name") for c in cases) == ["gelu-head", "serve", "wider"]
    serve = repo / "rules" / "serve.rw"
    serve.write_text(serve.read_text().replace(":= linear", ":= tanh"))
    out = subprocess.run(run, capture_output=True, text=True, cwd=repo, timeout=600)
    assert out.returncode == 1
    assert "rule test serve.test.toml failed:" in out.stdout
    assert "- expect.fields: `scores.activation` is 'tanh', expected 'linear'" in out.stdout
    assert "+++ serve.plan.json (this run)" in out.stdout and '+    "tanh"' in out.stdout
    failures = [c for c in ElementTree.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == ["serve"]


def test_ten_ready_made_rules_each_tested():
    rules = sorted((ROOT / "rules" / "std").glob("*.rw"))
    assert len(rules) >= 10
    for rule in rules:
        assert rule.with_name(rule.stem + ".test.toml").exists(), f"{rule.name} has no test"
        assert rule.with_name(rule.stem + ".plan.json").exists(), f"{rule.name} has no plan snapshot"
        assert rule.read_text().startswith("#"), f"{rule.name} should say what it is for"


@pytest.fixture
def repo(tmp_path):
    target = tmp_path / "repo"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_sample_repository_checks_and_tests(repo, capsys):
    assert main(["check", *map(str, sorted((repo / "rules").glob("*.rw")))]) == 0
    assert main(["test", str(repo)]) == 0
    assert "3 passed, 0 failed" in capsys.readouterr().out


def test_breaking_a_rule_names_the_expectation(repo, capsys):
    serve = repo / "rules" / "serve.rw"
    serve.write_text(serve.read_text().replace(":= linear", ":= tanh"))
    assert main(["test", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "serve.test.toml" in out
    assert "expect.fields: `scores.activation` is 'tanh', expected 'linear'" in out
    assert "the plan differs from the snapshot serve.plan.json" in out
    # A unified diff from the stored snapshot to this run's plan.
    assert "--- serve.plan.json (snapshot)\n+++ serve.plan.json (this run)\n@@" in out
    assert '-    "linear"' in out and '+    "tanh"' in out
    assert "2 passed, 1 failed" in out
    assert main(["test", str(repo), "--update"]) == 1  # the expectation still fails
    assert "wrote serve.plan.json" in capsys.readouterr().out


def test_breaking_the_model_names_the_expectation(repo, capsys):
    models = repo / "models.py"
    models.write_text(models.read_text().replace('name="fc1"', 'name="dense_in"'))
    assert main(["test", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "expect.matched: `fc1` was not matched" in out
    assert "rule `wider` expects matches = 1, but its statements matched 0 layer(s)" in out


def test_no_tests_found_is_a_failure(tmp_path, capsys):
    assert main(["test", str(tmp_path)]) == 2
    assert "no rule tests found" in capsys.readouterr().err
