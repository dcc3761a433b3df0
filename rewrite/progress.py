"""A progress bar for a person watching, at a terminal or in a notebook, and nobody else.

    with Progress("search", total=len(grid)) as bar:
        for params in grid:
            bar.step(f"act={params['act']}")
            ...

At a terminal (the stream is a tty and `TERM` is not `dumb`) the bar is drawn with
`rich.progress`, which Keras installs: one line, redrawn in place and erased when
closed, uncoloured under `NO_COLOR`; without rich, a plain one-line bar. In a
Jupyter notebook it is an HTML line updated in place (an IPython display handle,
no widget library needed). Logs, pipes, CI and `--format json` runs get nothing;
`enabled=False` turns it off outright and `enabled=True` draws whatever the
stream is. What the command prints on stdout stays as it was.
"""

from __future__ import annotations

import html
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


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where stderr is no terminal, but a person watches)."""
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    ip = get() if callable(get) else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class Progress:
    """Steps of a long job, drawn as `label [#####.....] 3/8 what is running  12s`.

    `total` may be unknown (None) or set later; `step(what)` starts the next step,
    `note(text)` prints a line above the bar (only when the bar is shown).
    """

    def __init__(self, label: str, total: int | None = None, *, stream: IO[str] | None = None, enabled: bool | None = None):
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        notebook = enabled is None and stream is None and in_notebook()
        self.enabled = (interactive(self.stream) or notebook) if enabled is None else enabled
        self.done = 0
        self.current = ""
        self.reserved = 0
        """Steps the owner will add after the ones `expect` announces (e.g. writing a file)."""
        self.started = time.monotonic()
        self._screen: _Screen | None = None
        self._notebook = notebook

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
        if self.enabled:
            self._screen_of().note(text)

    def print(self, text: str, file: IO[str] | None = None) -> None:
        """Print `text` to `file` (stdout) in every mode, keeping the bar below it on a terminal."""
        if self._screen is not None:
            self._screen.clear()
        print(text, file=file if file is not None else sys.stdout, flush=True)
        self._draw()

    def line(self) -> str:
        """The bar as plain text (what the plain terminal bar draws)."""
        done = self.done
        count = f"{done}/{self.total}" if self.total else f"{done}"
        bar = ""
        if self.total:
            filled = min(WIDTH, round(WIDTH * done / self.total))
            bar = "[" + "#" * filled + "." * (WIDTH - filled) + "] "
        text = f"{self.label} {bar}{count} {self.current}  {self.elapsed():.0f}s"
        columns = shutil.get_terminal_size((80, 24)).columns
        return text if len(text) < columns else text[: max(columns - 2, 10)] + "…"

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def close(self) -> None:
        """Erase the bar (the job's own output is what stays on screen)."""
        if self._screen is not None:
            self._screen.close()

    def _screen_of(self) -> _Screen:
        if self._screen is None:
            self._screen = _NotebookScreen() if self._notebook else _terminal_screen(self.stream)
        return self._screen

    def _draw(self) -> None:
        if self.enabled and self.current:
            self._screen_of().show(self)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Screen:
    """Where a bar is drawn: show its state, a note above it, clear it for a moment, close."""

    def show(self, bar: Progress) -> None: ...

    def note(self, text: str) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None:
        self.clear()


def _terminal_screen(stream: IO[str]) -> _Screen:
    try:
        import rich.progress  # noqa: F401  (installed with Keras; a plain bar without it)
    except ImportError:
        return _PlainScreen(stream)
    return _RichScreen(stream)


class _PlainScreen(_Screen):
    """One line redrawn with a carriage return, erased at the end."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.last: Progress | None = None
        self.drawn = False

    def show(self, bar: Progress) -> None:
        self.last = bar
        self.stream.write("\r\x1b[2K" + bar.line())
        self.stream.flush()
        self.drawn = True

    def note(self, text: str) -> None:
        self.clear()
        print(text, file=self.stream, flush=True)
        if self.last is not None:
            self.show(self.last)

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False


class _RichScreen(_Screen):
    """rich.progress on the stream: colours unless NO_COLOR, erased when closed."""

    def __init__(self, stream: IO[str]):
        from rich.console import Console  # imported on first draw: `import rewrite` stays light
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress
        from rich.table import Column

        console = Console(file=stream, force_terminal=True, highlight=False, no_color="NO_COLOR" in os.environ)
        self.bar = RichProgress(
            TextColumn("{task.fields[label]}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=WIDTH),
            TextColumn("{task.fields[count]}", table_column=Column(no_wrap=True)),
            # Only what is running gives way (with an ellipsis) on a narrow terminal.
            TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
            TimeElapsedColumn(),
            console=console,
            expand=True,
            transient=True,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task: Any = None
        self.running = False

    def show(self, bar: Progress) -> None:
        if not self.running:
            self.bar.start()
            self.running = True
        count = f"{bar.done}/{bar.total}" if bar.total else f"{bar.done}"
        if self.task is None:
            self.task = self.bar.add_task(bar.current, total=bar.total, label=bar.label, count=count)
        self.bar.update(self.task, total=bar.total, completed=bar.done, description=bar.current, count=count)
        self.bar.refresh()

    def note(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False)

    def clear(self) -> None:
        if self.running:
            self.bar.stop()  # transient: the line is erased
            self.running = False


class _NotebookScreen(_Screen):
    """An HTML line in the cell's output, updated in place through a display handle."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.notes: list[str] = []

    def show(self, bar: Progress) -> None:
        from IPython.display import HTML, display  # in a notebook, IPython is there

        value = f' value="{bar.done}" max="{bar.total}"' if bar.total else ""
        count = f"{bar.done}/{bar.total}" if bar.total else f"{bar.done}"
        notes = "".join(f"<div>{html.escape(n)}</div>" for n in self.notes)
        body = HTML(
            f"{notes}<div><b>{html.escape(bar.label)}</b> <progress{value}></progress> {count} "
            f"{html.escape(bar.current)} ({bar.elapsed():.0f}s)</div>"
        )
        if self.handle is None:
            self.handle = display(body, display_id=True)
        else:
            self.handle.update(body)
        self.last = bar

    def note(self, text: str) -> None:
        self.notes.append(text)

    def close(self) -> None:
        if self.handle is not None:
            from IPython.display import HTML

            bar = self.last
            self.handle.update(HTML(f"<div>{html.escape(bar.label)}: {bar.done + 1} step(s) in {bar.elapsed():.0f}s</div>"))


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
