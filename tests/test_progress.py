"""Progress bars: drawn on stderr for a person at a terminal, nothing for logs, pipes or --json."""

from __future__ import annotations

import io
import re
import sys

import pytest

import rewrite
from rewrite.cli.main import main
from rewrite.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_off_a_terminal():
    stream = io.StringIO()
    with Progress("job", total=3, stream=stream) as bar:
        bar.step("one")
        bar.note("a note")
        bar.step("two")
    assert stream.getvalue() == ""
    assert bar.done == 1 and bar.current == "two"  # it still counts


def test_a_terminal_gets_a_rich_bar_that_is_erased_at_the_end(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = Terminal()
    with Progress("job", total=4, stream=stream) as bar:
        bar.step("one")
        bar.step("two")
        bar.step("three")
        assert bar.line().startswith("job [############............] 2/4 three  ")
        bar.note("hello")
    out = stream.getvalue()
    assert "job " in out and " 1/4 two " in out and " 2/4 three " in out and "━" in out  # rich's bar
    assert "hello\n" in out
    assert out.endswith("\x1b[2K")  # closed: the line is erased
    assert "\x1b[9" in out or "\x1b[3" in out  # coloured at a terminal


def test_no_color_draws_the_bar_uncoloured(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    stream = Terminal()
    with Progress("job", total=2, stream=stream) as bar:
        bar.step("one")
    out = stream.getvalue()
    assert " 0/2 one " in out and not re.search(r"\x1b\[[0-9;]*m", out)


def test_without_rich_a_plain_bar_is_drawn(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # as if rich were not installed
    stream = Terminal()
    with Progress("job", total=4, stream=stream) as bar:
        bar.step("one")
        bar.step("two")
        bar.note("hello")
    out = stream.getvalue()
    assert "\r\x1b[2Kjob [......................" in out and "1/4 two" in out
    assert "\r\x1b[2Khello\n" in out
    assert out.endswith("\r\x1b[2K")


def test_unknown_total_and_expect(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    bar = Progress("job", stream=Terminal())
    bar.step("loading")
    assert bar.line().startswith("job 0 loading")
    bar.reserved = 1
    bar.expect(3)
    assert bar.total == 5  # loading, three more, and the reserved one


def test_dumb_terminal_and_explicit_switches(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    assert not Progress("x", stream=Terminal()).enabled
    assert Progress("x", stream=io.StringIO(), enabled=True).enabled
    monkeypatch.setenv("TERM", "xterm")
    assert not Progress("x", stream=Terminal(), enabled=False).enabled


def test_apply_reports_each_stage_to_a_progress(head_model, probe):
    bar = Progress("apply", stream=io.StringIO(), enabled=True)
    seen = []
    original = bar.step

    def step(what=""):
        seen.append(what)
        original(what)

    bar.step = step  # type: ignore[method-assign]
    rewrite.apply(head_model, "Dense.activation := tanh", probe=probe, progress=bar)
    assert seen == [
        "graph", "plan", "probe", "materialize", "weights", "validate: well formed", "validate: outputs on the probe batch",
        "validate: .keras save and reload", "validate: kept weights", "validate: drift",
    ]
    assert bar.total == len(seen)


@pytest.mark.parametrize("validate, mode", [("config", "clone"), ("none", "clone"), ("full", "inplace")])
def test_the_step_count_matches_the_steps(head_model, probe, validate, mode):
    bar = Progress("apply", stream=io.StringIO(), enabled=True)
    rewrite.apply(head_model, "Dense.activation := tanh", probe=probe, progress=bar, validate=validate, mode=mode)
    assert bar.done + 1 == bar.total


@pytest.fixture
def cli_files(tmp_path, keras):
    from rewrite.zoo import cnn

    model = tmp_path / "model.keras"
    cnn().save(model)  # not compiled: reloading it warns about nothing
    rules = tmp_path / "head.rw"
    rules.write_text('param act = tanh in [tanh, gelu]\nDense[name ~ "fc?"].activation := $act\n')
    return model, rules


def as_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)


def test_cli_apply_draws_on_a_terminal_only(cli_files, tmp_path, capsys, monkeypatch):
    model, rules = cli_files
    assert main(["apply", str(model), str(rules), "-o", str(tmp_path / "a.keras")]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal here
    as_terminal(monkeypatch)
    assert main(["apply", str(model), str(rules), "-o", str(tmp_path / "b.keras")]) == 0
    captured = capsys.readouterr()
    assert "apply " in captured.err and " 0 loading model " in captured.err
    assert " 10/12 validate: .keras save and reload " in captured.err and "12/13 writing" not in captured.err
    assert " 11/12 writing " in captured.err and captured.err.endswith("\x1b[2K")
    assert "\r" not in captured.out and "validation PASSED" in captured.out


def test_cli_json_never_draws(cli_files, tmp_path, capsys, monkeypatch):
    model, rules = cli_files
    as_terminal(monkeypatch)
    assert main(["apply", str(model), str(rules), "-o", str(tmp_path / "a.keras"), "--json"]) == 0
    assert main(["plan", str(model), str(rules), "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_cli_search_counts_variants(cli_files, tmp_path, capsys, monkeypatch):
    model, rules = cli_files
    assert main(["search", str(model), str(rules), "--grid", "-o", str(tmp_path / "quiet")]) == 0
    assert capsys.readouterr().err == ""
    as_terminal(monkeypatch)
    assert main(["search", str(model), str(rules), "--grid", "-o", str(tmp_path / "loud")]) == 0
    err = capsys.readouterr().err
    assert " 1/3 variant 1/2 {'act': 'tanh'} " in err
    assert "[1/2] {'act': 'tanh'}: variant_000.keras" in err and "variant 2/2 {'act': 'gelu'}" in err


def test_print_keeps_the_bar_below_the_output(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    err, out = Terminal(), io.StringIO()
    with Progress("zoo", total=2, stream=err) as bar:
        bar.step("a")
        drawn_before = err.getvalue().count(" 0/2 a ")
        bar.print("| row |", file=out)
        assert err.getvalue().count(" 0/2 a ") > drawn_before  # drawn again after the line
    assert out.getvalue() == "| row |\n"
    assert err.getvalue().endswith("\x1b[2K")
    quiet = io.StringIO()
    Progress("zoo", stream=io.StringIO()).print("| row |", file=quiet)
    assert quiet.getvalue() == "| row |\n"


def test_verdicts_are_coloured_at_a_terminal_only(cli_files, tmp_path, capsys, monkeypatch):
    model, rules = cli_files
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["apply", str(model), str(rules), "-o", str(tmp_path / "a.keras")]) == 0
    out = capsys.readouterr().out
    assert "validation PASSED" in out and "\x1b[" not in out  # a pipe: plain
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["apply", str(model), str(rules), "-o", str(tmp_path / "b.keras")]) == 0
    assert "\x1b[1;32mvalidation PASSED\x1b[0m" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["apply", str(model), str(rules), "-o", str(tmp_path / "c.keras")]) == 0
    out = capsys.readouterr().out
    assert "validation PASSED" in out and "\x1b[" not in out
