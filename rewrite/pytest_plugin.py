"""Rule tests in pytest: every `<rule>.test.toml` is a test item.

Installed with keras-rewrite (entry point `pytest11`), so `pytest rules/` runs a
repository's rule tests with the rest of its tests, and `--junitxml` reports them
like any other. A failure lists each unmet expectation; a plan that differs from
its snapshot shows the unified diff. `pytest --rewrite-update` refreshes the plan
snapshots (as `keras-rewrite test --update` does). `-p no:keras_rewrite` turns the
plugin off.

Nothing heavy is imported until a rule test runs: collecting `*.test.toml` files
costs a file-name check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUFFIX = ".test.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keras-rewrite")
    group.addoption(
        "--rewrite-update", action="store_true", default=False, help="rewrite the plan snapshots of keras-rewrite rule tests"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIX):
        collected: RuleTestFile = RuleTestFile.from_parent(parent, path=file_path)
        return collected
    return None


class RuleTestFailure(Exception):
    """A rule test whose expectations did not hold; carries each failure's text."""

    def __init__(self, failures: list[str]):
        super().__init__("\n".join(failures))
        self.failures = failures


class RuleTestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield RuleTestItem.from_parent(self, name=self.path.name[: -len(SUFFIX)])


class RuleTestItem(pytest.Item):
    def runtest(self) -> None:
        from rewrite.cli.ruletests import run_one  # imports Keras: only when a rule test runs

        outcome = run_one(self.path, update=bool(self.config.getoption("rewrite_update")))
        if not outcome.passed:
            raise RuleTestFailure(outcome.failures)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RuleTestFailure):
            return f"rule test {self.path.name} failed:\n" + "\n".join(f"- {f}" for f in excinfo.value.failures)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"rule test {self.name}"
