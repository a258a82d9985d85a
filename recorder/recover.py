"""Temporary files left by a crash: find them, say what can be done, salvage or discard them.

A journal (`.<name>.h5.partial`) becomes a proper episode of every frame whose record is whole,
marked `recovered`; a torn tail is dropped. A journal whose final file exists is left over from a
crash just after the rename and is only removed. A half-built HDF5 file (`.<name>.h5.building`) is
never salvaged: the journal beside it holds the same frames. A journal still locked by a running
recorder is never touched, and neither is a `.<name>.h5.partial` that is not a journal at all
(`NOT_JOURNAL`) unless it is explicitly discarded. This module asks nothing; the command decides
and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from configs.files import publish_file
from recorder import h5write, journal
from recorder.errors import RecorderError

SALVAGE, ALREADY_SAVED, NOTHING, IN_USE = "salvage", "already saved", "nothing to salvage", "in use"
NOT_JOURNAL = "not a journal"


@dataclass
class Leftover:
    name: str
    journal: Path | None
    others: list[Path] = field(default_factory=list)  # half-built HDF5 files
    frames: int = 0  # complete frames in the journal
    torn_bytes: int = 0  # bytes of an incomplete last record, dropped on salvage
    state: str = NOTHING

    @property
    def final(self) -> Path:
        parent = (self.journal or self.others[0]).parent
        return parent / f"{self.name}.h5"

    def describe(self) -> str:
        if self.state == SALVAGE:
            torn = f", dropping a torn tail of {self.torn_bytes} bytes" if self.torn_bytes else ""
            return f"{self.frames} complete frame(s){torn}"
        if self.state == ALREADY_SAVED:
            return "already saved under its final name; the temporary file is stale"
        if self.state == IN_USE:
            return "being recorded right now; left alone"
        if self.state == NOT_JOURNAL:
            return "not a journal (not written by mvla); left alone unless discarded"
        return "no complete frame"


def find_leftovers(data_dir: str | Path) -> list[Leftover]:
    """Every temporary file of ours in `data_dir`, grouped by episode, with what salvage would do."""
    data_dir = Path(data_dir)
    by_name: dict[str, Leftover] = {}
    for path in sorted(data_dir.glob(".*.h5.*")):
        name = journal.episode_name_of(path)
        if name is None:
            continue
        leftover = by_name.setdefault(name, Leftover(name, None))
        if path.name.endswith(journal.JOURNAL_SUFFIX):
            leftover.journal = path
        else:
            leftover.others.append(path)
    for leftover in by_name.values():
        _assess(leftover)
    return list(by_name.values())


def _assess(leftover: Leftover) -> None:
    if leftover.journal is None:
        leftover.state = NOTHING
        return
    if journal.is_locked(leftover.journal):
        leftover.state = IN_USE
        return
    try:
        ours = journal.starts_like_journal(leftover.journal)
    except OSError:
        ours = False  # unreadable: certainly not something salvage could use or may delete
    if not ours:
        leftover.state = NOT_JOURNAL
        return
    if leftover.final.exists():
        leftover.state = ALREADY_SAVED
        return
    contents = journal.scan(leftover.journal)
    leftover.frames = len(contents.frames) if contents.header is not None else 0
    leftover.torn_bytes = contents.total_bytes - contents.valid_bytes
    leftover.state = SALVAGE if leftover.frames else NOTHING


def salvage(leftover: Leftover, now: Callable[[], datetime] = datetime.now) -> Path | None:
    """Turn a leftover into an episode marked recovered (or just tidy it up); returns the episode
    path when one was written."""
    _assess(leftover)
    if leftover.state == IN_USE:
        raise RecorderError(f"{leftover.journal}: still being recorded by a running recorder; stop it first")
    if leftover.state == NOT_JOURNAL:
        return None  # somebody else's file: only an explicit discard() removes it
    if leftover.state != SALVAGE or leftover.journal is None:
        discard(leftover)
        return None
    contents = journal.scan(leftover.journal)
    header = journal.JournalHeader.from_record(contents.header or {}, leftover.journal)
    build = journal.build_path(leftover.journal.parent, leftover.name)
    try:
        with open(leftover.journal, "rb") as source:
            h5write.write_episode_file(
                build,
                header,
                contents.frames,
                source,
                saved_at=now(),
                total_duration=contents.frames[-1].timestamp,
                recovered=True,
            )
        publish_file(build, leftover.final)
    except OSError as exc:
        build.unlink(missing_ok=True)
        raise RecorderError(
            f"{leftover.journal}: salvage failed ({exc.strerror or exc}); the temporary file is kept"
        ) from None
    discard(leftover)
    return leftover.final


def discard(leftover: Leftover) -> None:
    """Delete the temporary files of a leftover (never its final episode file)."""
    if leftover.journal is not None and journal.is_locked(leftover.journal):
        raise RecorderError(f"{leftover.journal}: still being recorded by a running recorder; stop it first")
    for path in [leftover.journal, *leftover.others]:
        if path is not None:
            path.unlink(missing_ok=True)
