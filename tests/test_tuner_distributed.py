"""KerasTuner's distributed mode, for real: a chief and two workers on localhost.

Run by pytest, this file trains a base model, writes a rule file and starts three
processes; run as a script (`python test_tuner_distributed.py WORKDIR`), it is one
of them, the one `KERASTUNER_TUNER_ID` names. Every process runs the same search:
the chief serves the oracle and blocks, the workers take trials from it, and all
of them share `WORKDIR/tuning`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

RULES = """
param act = relu in [relu, gelu, tanh]
param width = 16 in [16, 32]

rule head "Activation and width of the hidden layer" {
    Dense[name = "fc1"].activation := $act
    Dense[name = "fc1"].units := $width using weights=widen
}
"""
SPACE: dict[str, set[Any]] = {"act": {"relu", "gelu", "tanh"}, "width": {16, 32}}
MAX_TRIALS = 3
WORKERS = ("tuner0", "tuner1")
TIMEOUT = 120.0


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10)).astype("float32")
    return x, (x[:, :3].sum(axis=1) > 0).astype("int32")


def main(workdir: Path) -> None:
    """One process of the search; it reports what it ran and its best model in `WORKDIR/report-<id>.json`."""
    import keras
    import keras_tuner

    import rewrite
    from rewrite.tuner import RewriteHyperModel

    tuner_id = os.environ["KERASTUNER_TUNER_ID"]
    keras.utils.set_random_seed(0)
    base = keras.saving.load_model(workdir / "base.keras")
    before = base.get_weights()
    ran: list[Any] = []

    class Recording(keras_tuner.RandomSearch):
        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            # Asked now: this worker has not been told to stop, so the chief still serves.
            ran.append(self.oracle.get_trial(trial.trial_id))

    tuner = Recording(
        RewriteHyperModel(base, rewrite.load(workdir / "search.rw")),
        objective="val_loss",
        max_trials=MAX_TRIALS,
        seed=1,
        directory=str(workdir / "tuning"),
        project_name="search",
    )
    x, y = data()
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    report: dict[str, Any] = {
        "trials": {
            t.trial_id: {"status": t.status, "values": t.hyperparameters.values} for t in ran
        },
        "base_unchanged": all(np.array_equal(a, b) for a, b in zip(before, base.get_weights())),
        "best": None,
    }
    if tuner_id == "chief":
        # search() returned: every trial has ended, and this oracle knows them all.
        best, model = tuner.oracle.get_best_trials(1)[0], tuner.get_best_models(1)[0]
    elif ran:
        # The chief may be gone by now: this worker's best comes from its own trials.
        best = min(ran, key=lambda t: t.score)
        model = tuner.load_model(best)
    else:  # the other worker took every trial
        best = model = None
    if best is not None:
        fc1 = model.get_layer("fc1")
        report.update(best=best.trial_id, best_units=fc1.units, best_kernel=list(fc1.kernel.shape))
    (workdir / f"report-{tuner_id}.json").write_text(json.dumps(report))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def outputs(procs: dict[str, subprocess.Popen[bytes]], logs: Path) -> str:
    """Each process's exit code and the end of its stderr, for a failure message."""
    parts = []
    for name, p in procs.items():
        err = (logs / f"{name}.err").read_text(errors="replace")[-3000:]
        parts.append(f"--- {name} (exit code {p.returncode}) stderr:\n{err}")
    return "\n".join(parts)


def test_distributed_search_with_a_chief_and_two_workers(keras, tmp_path):
    pytest.importorskip("keras_tuner")
    pytest.importorskip("grpc")
    x, y = data()
    inputs = keras.Input((10,), name="features")
    h = keras.layers.Dense(16, activation="relu", name="fc1")(inputs)
    outputs_ = keras.layers.Dense(2, activation="softmax", name="out")(h)
    base = keras.Model(inputs, outputs_)
    base.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    base.fit(x, y, epochs=1, verbose=0)
    base_file = tmp_path / "base.keras"
    base.save(base_file)
    base_digest = hashlib.sha256(base_file.read_bytes()).hexdigest()
    (tmp_path / "search.rw").write_text(RULES)

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERASTUNER_ORACLE_IP="127.0.0.1")
    env["KERASTUNER_ORACLE_PORT"] = str(free_port())
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("chief", *WORKERS):
            with (
                open(tmp_path / f"{name}.out", "wb") as out,
                open(tmp_path / f"{name}.err", "wb") as err,
            ):
                procs[name] = subprocess.Popen(
                    [sys.executable, __file__, str(tmp_path)],
                    env=dict(env, KERASTUNER_TUNER_ID=name),
                    stdout=out,
                    stderr=err,
                )
        # The chief returns once every worker has been told to stop; while one is
        # still busy it looks again only every 20 s. A crash fails the test at once.
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            codes = {n: p.poll() for n, p in procs.items()}
            failed = [n for n, code in codes.items() if code not in (None, 0)]
            assert not failed, f"{', '.join(failed)} failed\n{outputs(procs, tmp_path)}"
            if None not in codes.values():
                break
            time.sleep(0.5)
        running = [n for n, p in procs.items() if p.poll() is None]
        assert not running, (
            f"{', '.join(running)} still running after {TIMEOUT:.0f} s\n{outputs(procs, tmp_path)}"
        )
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()

    # What the chief's oracle recorded in the shared directory.
    project = tmp_path / "tuning" / "search"
    trials = {
        t["trial_id"]: t
        for t in (json.loads(f.read_text()) for f in sorted(project.glob("trial_*/trial.json")))
    }
    assert len(trials) == MAX_TRIALS
    for t in trials.values():
        assert t["status"] == "COMPLETED", t.get("message")
        values = t["hyperparameters"]["values"]
        assert values.keys() == SPACE.keys() and all(values[k] in SPACE[k] for k in SPACE)
        # The worker that ran the trial checkpointed it there.
        assert (project / f"trial_{t['trial_id']}" / "checkpoint.weights.h5").is_file()

    def width(trial_id: str) -> int:
        return int(trials[trial_id]["hyperparameters"]["values"]["width"])

    # The workers ran every trial, each once; the chief ran none.
    reports = {
        name: json.loads((tmp_path / f"report-{name}.json").read_text())
        for name in (*WORKERS, "chief")
    }
    assert sorted(t for name in WORKERS for t in reports[name]["trials"]) == sorted(trials)
    assert reports["chief"]["trials"] == {}
    for name in WORKERS:
        for trial_id, seen in reports[name]["trials"].items():
            assert seen == {
                "status": "COMPLETED",
                "values": trials[trial_id]["hyperparameters"]["values"],
            }
    # Each process's best model, loaded from the shared checkpoints, has its trial's width.
    for name, r in reports.items():
        if r["best"] is not None:
            assert (r["best_units"], r["best_kernel"]) == (
                width(r["best"]),
                [10, width(r["best"])],
            ), name
        assert r["base_unchanged"], f"{name} changed the base model's weights"
    assert reports["chief"]["best"] is not None
    assert reports["chief"]["best"] == min(trials, key=lambda t: trials[t]["score"])

    # The base model file every process loaded is untouched.
    assert hashlib.sha256(base_file.read_bytes()).hexdigest() == base_digest
    reloaded = keras.saving.load_model(base_file)
    assert all(np.array_equal(a, b) for a, b in zip(base.get_weights(), reloaded.get_weights()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
