"""Writing files: whole or not at all, never over an input, with the permissions a user expects.

Every output is checked before any work starts (`check_output`); the write goes to
a temporary file beside the target, is flushed to disk, takes the target's mode
(or the umask's, for a new file), and is renamed into place. Without `replace`,
the rename refuses a file another process created in the meantime.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rewrite.errors import OutputError
from rewrite.io.provenance import write
from rewrite.keras_archive import pack, save_keras

MODEL_SUFFIXES = (".keras", ".h5")


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(
    path: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    force: bool = False,
    folder: bool = False,
    creates_folders: bool = True,
) -> Path:
    """Refuse, before any work, an output that cannot or must not be written.

    It must not be one of `inputs` (nor, for a folder, hold one); its folder must
    exist as a folder and be writable; it must not exist unless `force`; a file
    output must not be a folder and a folder output must not be a file.
    """
    target = Path(path)
    what = "output folder" if folder else "output"
    for source in inputs:
        source = Path(source)
        if _same_file(target, source) or (folder and source.exists() and target.exists() and source.resolve().is_relative_to(target.resolve())):
            raise OutputError(f"{what} {target} {'holds' if folder else 'is'} the input {source}: keras-rewrite never overwrites its input; choose another {what}")
    if target.exists() and folder and not target.is_dir():
        raise OutputError(f"{what} {target} is a file; give a folder (it is created if missing)")
    if target.exists() and not folder and target.is_dir():
        raise OutputError(f"{what} {target} is a folder; give a file name, e.g. {target / 'model.keras'}")
    if target.exists() and not force and not folder:
        raise OutputError(f"{target} exists; pass --force to replace it (it is replaced only after validation passes)")
    parent = target.parent
    if not creates_folders and not parent.is_dir():
        raise OutputError(f"cannot write {target}: the folder {parent} does not exist; create it first")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: the folder {parent} is not writable")
    return target


def _write_atomic(target: Path, write: Callable[[str], object], replace: bool = True) -> None:
    """`write(tmp)` to a temporary file beside `target`, then rename it into place.

    A failure leaves no partial file and an existing file at `target` untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = (target.stat().st_mode & 0o7777) if target.exists() else _umask_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            _rename_new(Path(tmp), target)
        _sync_folder(target.parent)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):  # disk full, permissions, ...
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}; nothing was written") from exc
        raise


def _rename_new(tmp: Path, target: Path) -> None:
    """Move `tmp` to `target` only if nothing is there: a hard link fails on an existing name."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputError(
            f"{target} was created by someone else while this rewrite ran; it is left as it is. Pass --force to replace it"
        ) from None
    except OSError:  # a file system without hard links: the check just before the move
        if target.exists():
            raise OutputError(f"{target} was created by someone else while this rewrite ran; pass --force to replace it") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not sync folders; the file itself is on disk
    finally:
        os.close(fd)


def save_atomic(
    model: Any,
    path: str | os.PathLike[str],
    provenance: dict[str, Any] | None = None,
    replace: bool = True,
    saved: str | os.PathLike[str] | None = None,
) -> None:
    """Save `model` to `path` (.keras or .h5), whole or not at all, with its provenance.

    `saved`: a folder `keras_archive.save_folder` wrote from this very model (as full
    validation keeps it); a `.keras` file is then zipped from it instead of saving again.
    """
    target = Path(path)
    if target.suffix not in MODEL_SUFFIXES:
        raise OutputError(f"output must end in .keras (or .h5); received {str(target)!r}")

    def save(tmp: str) -> None:
        if target.suffix == ".keras" and saved is not None:
            pack(saved, tmp)
        elif target.suffix == ".keras":
            save_keras(model, tmp)  # the weights streamed to disk, never whole in memory
        else:
            model.save(tmp)
        if provenance is not None and target.suffix == ".keras":
            write(tmp, provenance)

    _write_atomic(target, save, replace)


def write_text_atomic(path: str | os.PathLike[str], text: str, replace: bool = True) -> None:
    """Write `text` (UTF-8) to `path`, whole or not at all."""
    _write_atomic(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline=""), replace)
