"""A one-line progress bar on stderr, for a person at a terminal and nobody else.

    with Progress("search", total=len(grid)) as bar:
        for params in grid:
            bar.step(f"act={params['act']}")
            ...

The bar draws only when its stream is a terminal (and `TERM` is not `dumb`), so
logs, pipes, CI and `--json` runs get nothing from it; `enabled=False` turns it
off outright and `enabled=True` draws whatever the stream is. It redraws one line in place and erases it when closed, so what
the command prints on stdout stays as it was.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import contextmanager
from typing import IO, Any

WIDTH = 24


def interactive(stream: IO[str]) -> bool:
    """Whether `stream` is a terminal a person watches."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or stream-like objects
        return False
    return bool(tty) and os.environ.get("TERM") != "dumb"


class Progress:
    """Steps of a long job, drawn as `label [#####.....] 3/8 what is running  12s`.

    `total` may be unknown (None) or set later; `step(what)` starts the next step,
    `note(text)` prints a line above the bar (only when the bar is shown).
    """

    def __init__(self, label: str, total: int | None = None, *, stream: IO[str] | None = None, enabled: bool | None = None):
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.done = 0
        self.current = ""
        self.reserved = 0
        """Steps the owner will add after the ones `expect` announces (e.g. writing a file)."""
        self.started = time.monotonic()
        self._drawn = False

    def step(self, what: str = "") -> None:
        """The previous step is finished; `what` is running now."""
        if self.current:
            self.done += 1
        self.current = what or "…"
        self._draw()

    def expect(self, more: int) -> None:
        """`more` steps follow the running one (and then the `reserved` ones): sets the total."""
        self.total = self.done + (1 if self.current else 0) + more + self.reserved

    def note(self, text: str) -> None:
        """A line for the person watching, above the bar; nothing when the bar is off."""
        if not self.enabled:
            return
        self._clear()
        print(text, file=self.stream, flush=True)
        self._draw()

    def print(self, text: str, file: IO[str] | None = None) -> None:
        """Print `text` to `file` (stdout) in every mode, keeping the bar below it on a terminal."""
        self._clear()
        print(text, file=file if file is not None else sys.stdout, flush=True)
        self._draw()

    def line(self) -> str:
        """The bar as it is drawn now (without the terminal's control characters)."""
        done = self.done
        count = f"{done}/{self.total}" if self.total else f"{done}"
        bar = ""
        if self.total:
            filled = min(WIDTH, round(WIDTH * done / self.total))
            bar = "[" + "#" * filled + "." * (WIDTH - filled) + "] "
        elapsed = time.monotonic() - self.started
        text = f"{self.label} {bar}{count} {self.current}  {elapsed:.0f}s"
        columns = shutil.get_terminal_size((80, 24)).columns
        return text if len(text) < columns else text[: max(columns - 2, 10)] + "…"

    def close(self) -> None:
        """Erase the bar (the job's own output is what stays on screen)."""
        self._clear()

    def _draw(self) -> None:
        if self.enabled and self.current:
            self.stream.write("\r\x1b[2K" + self.line())
            self.stream.flush()
            self._drawn = True

    def _clear(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def silent() -> Progress:
    """A progress that never draws (for callers that pass none)."""
    return Progress("", enabled=False)


class StageClock:
    """Times each stage; with a progress bar, also shows which stage is running."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    def step(self, name: str) -> None:
        """A step inside a stage (a validation check): shown, not timed on its own."""
        if self.progress is not None:
            self.progress.step(name)

    @contextmanager
    def stage(self, name: str, shown: str = ""):
        self.step(shown or name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
