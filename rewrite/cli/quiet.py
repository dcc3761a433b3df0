"""Keras imported with the backend's native start-up notices held back."""

from __future__ import annotations

import os
import re
import sys

# What TensorFlow's native code prints while it loads, whatever TF_CPP_MIN_LOG_LEVEL
# says: absl's notice that logging is not set up yet, and oneDNN's INFO line.
_STARTUP_NOISE = re.compile(r"All log messages before absl::InitializeLog\(\) is called|\] oneDNN custom operations are on")


def import_backend_quietly() -> None:
    """Import Keras (and its backend) with the backend's start-up notices held back.

    TensorFlow prints them from native code, past Python's `sys.stderr`, even
    with TF_CPP_MIN_LOG_LEVEL=3. While Keras is imported, file descriptor 2 goes
    to a temporary file; afterwards every line of it except those notices is
    written to stderr, in order. With TF_CPP_MIN_LOG_LEVEL set to 0 nothing is
    held back.
    """
    if "keras" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        import keras  # noqa: F401

        return
    import tempfile

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (a daemon with stderr closed): nothing to hold back
        import keras  # noqa: F401

        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _STARTUP_NOISE.search(line)))
            sys.stderr.flush()
