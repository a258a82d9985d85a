"""Durable file writes: the one engine every package uses to put a file or a folder under its final name.

Why: crash safety. A reader (the older collector reading the progress files, `mvla drive` loading a
checkpoint, a resumed run reading its log) must never see a half-written file, whatever kills the
process or the power. So everything is built under a hidden name beside its final one, fsynced,
renamed into place (a rename within one folder is atomic) and the folder fsynced, which makes the
rename itself durable.
- `fsync_path`: fsync a file or a folder (its entries) by path.
- `write_atomic`: bytes or text to a file, all or nothing; the old file stays on any error.
- `publish_file`: give a complete, fsynced file its final name, durably (for a writer that builds the
  file itself under a hidden name, as the HDF5 episode writer does through h5py).
- `staged_dir`: build a folder in a hidden staging sibling, then replace the old folder with it;
  on an error the staging folder goes and the old folder stays as it was.
Temporary names start with "." and end in ".tmp" (a folder moved aside ends in ".old"), so a listing
of visible files never shows one.

Here, at the bottom of the dependency order, because `recorder`, `policies` and `trainer` all write
durable files; it needs only the standard library. It must not import anything of ours, must not
decide what goes into a file (formats belong to their owners) and must not delete anything but its
own temporaries and the folder `staged_dir` replaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

_TRIES = 100  # random hidden names to try before giving up (a clash is already a 1-in-4-billion event)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a directory (its entries) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_file(built: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Atomically give a complete, fsynced file its final name, and make the rename durable."""
    os.replace(built, final)
    fsync_path(Path(final).parent)


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write `data` (a str as UTF-8, no newline translation) to `path`: all of it or, on any error,
    nothing, with the old file (if any) untouched and no temporary left. The new file gets the
    permissions a plain `open(path, "w")` would give it."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = _hidden(path, ".tmp", _new_file)
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        publish_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden staging folder beside `final` (its parents are created) to fill. On a normal
    exit every file and folder in it is fsynced, it replaces `final` (an old `final` is moved aside,
    then removed once the new one is in place and the rename is durable: on disk there is always one of
    them) and the parent is fsynced. On an exception the staging folder is removed and an old `final`
    is left as it was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = _hidden(final, ".tmp", os.mkdir)
    try:
        yield stage
        _fsync_tree(stage)
        _replace_dir(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _new_file(path: Path) -> None:
    # O_EXCL: never truncate somebody else's file; 0o666 less the umask, as `open(path, "w")` does.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _hidden(final: Path, suffix: str, create: Callable[[Path], object]) -> Path:
    """Create (with `create(path)`, which fails if the path exists) a fresh hidden sibling of `final`."""
    for _ in range(_TRIES):
        candidate = final.with_name(f".{final.name}.{os.urandom(4).hex()}{suffix}")
        try:
            create(candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{final.parent}: no free hidden name for {final.name} after {_TRIES} tries")


def _fsync_tree(root: Path) -> None:
    """fsync every regular file and every folder under `root`, deepest first, `root` last."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):  # a link has no data of its own to make durable
                fsync_path(path)
        fsync_path(folder)


def _replace_dir(stage: Path, final: Path) -> None:
    old = None
    if os.path.lexists(final):
        # Moved aside, not deleted, until the new folder is in place: on disk one of them always is.
        old = final.with_name(f".{final.name}.{os.urandom(4).hex()}.old")
        final.rename(old)
    try:
        stage.rename(final)
    except BaseException:
        if old is not None:
            old.rename(final)  # the new folder could not go in: the old one goes back
        raise
    fsync_path(final.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
