"""Interrupting `apply` (SIGINT) at any point leaves the old output or the new one, whole."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigint_never_leaves_a_partial_output(tmp_path, keras, demo_files):
    model, rules, out = demo_files
    out.write_bytes(b"the old output")
    old = hashlib.sha256(out.read_bytes()).hexdigest()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "rewrite", "apply", str(model), str(rules), "-o", str(out), "--force", "--json"]
    outcomes = []
    for delay in (1.0, 3.0, 4.5, 6.0, 7.5, None):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if delay is not None:
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
        if hashlib.sha256(out.read_bytes()).hexdigest() == old:
            outcomes.append("old")
        else:
            loaded = keras.saving.load_model(out)  # whole, or this raises
            assert loaded.get_layer("fc1").activation.__name__ == "tanh"
            outcomes.append("new")
            out.write_bytes(b"the old output")
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
        assert leftovers == [], leftovers
    assert outcomes[-1] == "new"  # the run that was not interrupted wrote the new file
    assert set(outcomes) <= {"old", "new"}
