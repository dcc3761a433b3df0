"""Mutated rule text (every example in docs/ and rules/, bytes flipped, deleted,
duplicated) raises only RuleSyntaxError or RuleCheckError, with a location."""

from __future__ import annotations

import contextlib
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


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(EXAMPLES), st.lists(mutation, min_size=1, max_size=5))
def test_mutated_rules_fail_only_with_located_rule_errors(text, edits):
    source = mutate(text, edits)
    try:
        rewrite.from_text(source, "fuzz.rw")
    except RuleSyntaxError as err:
        assert err.line >= 1 and err.column >= 1 and str(err).startswith("fuzz.rw:")
    except RuleCheckError as err:
        assert err.diagnostics and all(d.file == "fuzz.rw" and d.line >= 1 for d in err.diagnostics)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_fails_only_with_rule_errors(source):
    with contextlib.suppress(RuleSyntaxError, RuleCheckError):
        rewrite.from_text(source, "fuzz.rw")
