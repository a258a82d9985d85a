"""Imported episodes appear in the data folder all together or not at all: `import_stage(out, kind)` is a
hidden folder inside `out` where an importer writes its episodes (removed however the import ends), and
`publish_staged` gives them their names in `out` once the whole source has been read, never over an
existing file. Shared by the rosbag and LeRobot importers; it reads no source and writes no episode.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from configs.files import fsync_path
from recorder.errors import RecorderError


@contextmanager
def import_stage(out: Path, kind: str) -> Iterator[Path]:
    """A fresh hidden folder inside `out` (created if missing); removed with what is left in it on exit."""
    out.mkdir(parents=True, exist_ok=True)
    stage = out / f".{kind}-import-{os.getpid()}-{os.urandom(3).hex()}.tmp"
    stage.mkdir()
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish_staged(staged: Iterable[Path], out: Path, source: str) -> list[Path]:
    """Give every staged episode its name in `out`, never replacing a file: all of them, or none.
    `source` names what was imported ("bag", "dataset") in the message of a clash."""
    staged = list(staged)
    clash = [p.name for p in staged if (out / p.name).exists()]
    if clash:
        raise RecorderError(
            f"{out / clash[0]} exists already (was this {source} imported before?); nothing was imported"
        )
    done: list[Path] = []
    try:
        for path in staged:
            os.link(path, out / path.name)  # fails rather than replace a file that appeared meanwhile
            done.append(out / path.name)
    except OSError as exc:
        for path in done:
            path.unlink(missing_ok=True)
        raise RecorderError(
            f"{out}: cannot place the imported episodes ({exc}); nothing was imported"
        ) from None
    fsync_path(out)
    return done
