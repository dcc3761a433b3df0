"""Every benchmark still runs (tiny configurations); its timings are never asserted."""

from __future__ import annotations

import json

from benchmarks.suite import SECTIONS, main


def test_quick_run_exercises_every_benchmark_and_writes_json_and_docs(tmp_path, capsys):
    out = tmp_path / "bench.json"
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n<!-- results:begin (written by python -m benchmarks --docs) -->\nold\n<!-- results:end -->\n\nafter\n")
    plot = tmp_path / "scaling.png"
    assert main(["--quick", "--json", str(out), "--docs", str(docs), "--plot", str(plot)]) == 0
    data = json.loads(out.read_text())
    assert data["errors"] == []
    assert set(data["sections"]) == set(SECTIONS)
    (case,) = data["sections"]["speed"]["cases"]
    assert case["changed_layers_a"] == case["changed_layers_b"] > 0
    assert case["equivalence_problems"] == []
    assert len(case["speed"]["ratios"]) == 2 and case["validation"]["failures"] == []
    assert case["inplace"]["changed_layers"] == case["changed_layers_a"]
    scaling = data["sections"]["scaling"]
    assert [r["size"] for r in scaling["rows"]] == [10, 20, 40] and scaling["equivalence_problems"] == []
    assert data["sections"]["memory"]["rows"][0]["peak"] > 0
    (large,) = data["sections"]["large"]["rows"]
    assert set(large["ops"]) == {"load", "cli-full"} and large["ops"]["cli-full"]["exit"] == 0
    assert data["sections"]["parser"]["statements"] == 200 and data["sections"]["parser"]["errors"] == []
    assert "HEAVY []" in data["sections"]["check"]["heavy"]
    assert data["sections"]["variants"]["median_ratio"] is not None
    sections = {t["section"] for t in data["targets"]}
    assert {"speed", "validation", "plan", "scaling", "memory", "large", "inplace", "parser", "check", "variants"} <= sections
    assert plot.read_bytes()[:4] == b"\x89PNG"
    text = docs.read_text()
    assert "old" not in text and text.endswith("<!-- results:end -->\n\nafter\n") and "| target |" in text
    printed = capsys.readouterr().out
    assert "Targets" in printed and "met" in printed


def test_a_partial_run_prints_and_leaves_the_record_alone(tmp_path, monkeypatch, capsys):
    import pytest

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):  # the docs' tables come from a whole run only
        main(["--only", "check", "--docs", "benchmarks.md"])
    assert "--docs rewrites every table" in capsys.readouterr().err
    assert main(["--quick", "--only", "check"]) == 0
    assert main(["--only", "check", "--statements", "10"]) == 0
    assert not (tmp_path / "benchmarks").exists()  # no partial benchmarks/results.json


def test_quantize_speed_runs_and_prints_its_ratio(capsys):
    from benchmarks import quantize_speed

    assert quantize_speed.main(["--layers", "2", "--width", "8", "--pairs", "1"]) == 0
    out = capsys.readouterr().out
    assert "A/B" in out and len(out.strip().splitlines()) == 3


def test_prune_speed_runs_and_prints_its_ratio(capsys):
    from benchmarks import prune_speed

    assert prune_speed.main(["--model", "zoo", "--pairs", "1"]) == 0
    out = capsys.readouterr().out
    assert "A/B" in out and len(out.strip().splitlines()) == 3
