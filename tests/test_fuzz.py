"""Mutated rule text (every example in docs/ and rules/, bytes flipped, deleted,
duplicated) raises only RuleSyntaxError or RuleCheckError, with a location."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import rewrite
from rewrite.errors import RuleCheckError, RuleSyntaxError

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```rw\n(.*?)^```", re.S | re.M)
EXAMPLES = [p.read_text() for p in sorted(ROOT.glob("rules/**/*.rw"))] + [
    m.group(1) for p in sorted(ROOT.glob("docs/*.md")) for m in FENCE.finditer(p.read_text())
]
EXAMPLES = [e.replace('use "', '# use "') for e in EXAMPLES]  # `use` needs files on disk

mutation = st.tuples(st.sampled_from(["flip", "delete", "duplicate"]), st.floats(0, 1), st.integers(0, 255), st.integers(1, 12))


def mutate(text: str, edits: list[tuple[str, float, int, int]]) -> str:
    data = bytearray(text.encode())
    for kind, where, byte, length in edits:
        if not data:
            break
        pos = int(where * (len(data) - 1))
        if kind == "flip":
            data[pos] = byte
        elif kind == "delete":
            del data[pos : pos + length]
        else:
            data[pos:pos] = data[pos : pos + length]
    return data.decode("utf-8", errors="replace")


# KERAS_REWRITE_FUZZ_EXAMPLES=20000 for a longer run than CI's.
EXAMPLES_TO_RUN = int(os.environ.get("KERAS_REWRITE_FUZZ_EXAMPLES", "400"))


@settings(max_examples=EXAMPLES_TO_RUN, deadline=None)
@given(st.sampled_from(EXAMPLES), st.lists(mutation, min_size=1, max_size=5))
def test_mutated_rules_fail_only_with_located_rule_errors(text, edits):
    source = mutate(text, edits)
    try:
        rewrite.from_text(source, "fuzz.rw")
    except RuleSyntaxError as err:
        assert err.line >= 1 and err.column >= 1 and str(err).startswith("fuzz.rw:")
    except RuleCheckError as err:
        assert err.diagnostics and all(d.file == "fuzz.rw" and d.line >= 1 for d in err.diagnostics)


@settings(max_examples=max(EXAMPLES_TO_RUN // 2, 1), deadline=None)
@given(st.text(max_size=200))
def test_random_text_fails_only_with_rule_errors(source):
    with contextlib.suppress(RuleSyntaxError, RuleCheckError):
        rewrite.from_text(source, "fuzz.rw")


def test_deep_nesting_and_huge_input_are_bounded():
    import pytest

    for text in ("Dense.units := " + "-" * 5000 + "1", "Dense.units := " + "[" * 3000 + "1" + "]" * 3000):
        with pytest.raises(RuleSyntaxError, match="nested more than 100 levels deep") as info:
            rewrite.from_text(text, "deep.rw")
        assert info.value.line == 1 and info.value.label == "too deep"
    rewrite.from_text("Dense.units := " + "-" * 40 + "1" + "\n")  # ordinary nesting is fine
    with pytest.raises(RuleSyntaxError, match="over the limit"):
        rewrite.from_text("# " + "x" * 2_100_000)


def test_unreadable_strings_are_syntax_errors():
    import pytest

    for text in ('Dense[name = "a\x00b"].units := 3', 'Dense.name := "\\N{nope}"'):
        with pytest.raises(RuleSyntaxError, match="this string cannot be read") as info:
            rewrite.from_text(text, "s.rw")
        assert info.value.label == "bad string" and info.value.line == 1
