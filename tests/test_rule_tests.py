"""Rule tests: the ready-made rules, and a sample repository that passes and then breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rewrite.cli.main import main
from rewrite.cli.ruletests import discover, run_test

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "sample_repo"


@pytest.mark.parametrize("test_file", discover([ROOT / "rules" / "std"]), ids=lambda p: p.name)
def test_ready_made_rule(test_file):
    outcome = run_test(test_file)
    assert outcome.passed, "\n".join(outcome.failures)
    assert not outcome.notes, "a plan snapshot was missing and has been written; commit it"


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
