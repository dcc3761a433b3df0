"""The model zoo: every architecture, every applicable rewrite, validated (docs/zoo.md)."""

from __future__ import annotations

import pytest

from benchmarks.zoo import MODELS, run_model

KNOWN: dict[tuple[str, str], str] = {}
TESTED = list(MODELS)


@pytest.mark.parametrize("name", TESTED)
def test_zoo_model(name, keras):
    rows = run_model(name)
    assert {r["rewrite"] for r in rows} == {"identity", "activation swap", "delete Dropout", "fold batchnorm"}
    for r in rows:
        known = KNOWN.get((name, r["rewrite"]))
        if known:
            assert known in r["result"], r  # caught by validation, nothing written
            continue
        assert r["result"] in ("validated", "not present"), r
        if r["rewrite"] in ("identity", "delete Dropout", "fold batchnorm") and r["drift"] is not None:
            assert r["drift"] <= 1e-4, r
