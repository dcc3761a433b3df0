"""Search on Optuna and Ray Tune through the public bridges; one value encoding for all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rewrite
from rewrite.lang.encoding import decode, labels, options
from rewrite.search import ParamSpace

ROOT = Path(__file__).resolve().parent.parent

KERNELS = "param k = (3, 3) in [(1, 1), (3, 3)]\nparam mix = 1 in [1, 2.5, none]\nConv2D.kernel_size := $k\nDense.units := 4\n"


def test_choices_a_library_cannot_hold_go_by_their_text_and_come_back():
    rules = rewrite.from_text(KERNELS.replace("Dense.units := 4\n", "Dense[units = $mix].units := 4\n"))
    spaces = rules.space()
    assert options(spaces["k"]) == (["(1, 1)", "(3, 3)"], "(3, 3)")
    assert options(spaces["mix"])[0] == ["1", "2.5", "None"]
    assert decode(spaces, {"k": "(1, 1)", "mix": "None"}) == {"k": (1, 1), "mix": None}
    assert labels(["2", 2]) == {"0: 2": "2", "1: 2": 2}  # written alike: numbered
    plain = ParamSpace("act", "choice", "relu", ("relu", "gelu"))
    assert options(plain) == (["relu", "gelu"], "relu") and decode({"act": plain}, {"act": "gelu"}) == {"act": "gelu"}


def test_optuna_trials_suggest_every_kind_of_param_and_decode_it():
    optuna = pytest.importorskip("optuna")
    from rewrite.search.optuna import decode as optuna_decode
    from rewrite.search.optuna import suggest

    rules = rewrite.from_text(
        "param k = (3, 3) in [(1, 1), (3, 3)]\nparam width = 16 in range(8, 32, step=8)\n"
        "param rate = 0.1 in range(0.0, 0.5)\nparam act = relu in [relu, tanh]\n"
        "Conv2D.kernel_size := $k\nDense.units := $width using weights=reinit\nDropout.rate := $rate\nDense.activation := $act\n"
    )
    trial = optuna.trial.FixedTrial({"k": "(1, 1)", "width": 24, "rate": 0.25, "act": "tanh"})
    assert suggest(trial, rules) == {"k": (1, 1), "width": 24, "rate": 0.25, "act": "tanh"}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda t: float(len(str(suggest(t, rules)))), n_trials=4)
    for t in study.trials:
        values = optuna_decode(rules, t.params)
        assert values["k"] in ((1, 1), (3, 3)) and values["width"] in (8, 16, 24, 32) and 0.0 <= values["rate"] <= 0.5
    assert study.trials[0].distributions["width"].step == 8


def test_ray_tune_example_from_the_docs(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    text = (ROOT / "docs" / "search.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    ray_block = next(b for b in blocks if b.startswith("# run by tests/test_search_bridges.py"))
    setup = "\n".join(b for b in blocks if "import keras\n" in b or "Path(\"search.rw\")" in b)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    namespace: dict = {}
    exec(compile(setup, "search.md", "exec"), namespace)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # pragma: no cover - the sandbox decides
        pytest.skip(f"Ray cannot start here: {type(exc).__name__}: {exc}")
    ray.shutdown()
    try:
        exec(compile(ray_block, "search.md (Ray Tune)", "exec"), namespace)
    finally:
        ray.shutdown()
