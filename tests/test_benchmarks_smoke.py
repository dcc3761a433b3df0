"""The benchmark script still runs (a tiny model); its timings are never asserted."""

from __future__ import annotations

import json

from benchmarks.suite import main


def test_quick_benchmark_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--models", "resnet50", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (case,) = data["cases"]
    assert case["changed_layers_a"] == case["changed_layers_b"] > 0
    assert case["equivalence_problems"] == []
    assert len(case["speed"]["ratios"]) == 2
    assert "Targets" in capsys.readouterr().out


def test_check_speed_benchmark_runs(capsys):
    from benchmarks.check_speed import main as check_main

    assert check_main(["--files", "5"]) == 0
    out = capsys.readouterr().out
    assert "5 file(s) checked: 0 error(s)" in out and "HEAVY []" in out


def test_variants_benchmark_runs(capsys):
    from benchmarks.variants import main as variants_main

    assert variants_main(["--quick"]) == 0
    assert "4 variants (4 distinct plans)" in capsys.readouterr().out
