"""`EpisodeSaver`: the slow half of recording, off the control thread.

Finishing an episode (draining the compression queue, building the V4 file, fsync, rename) takes tens to
hundreds of milliseconds, and counting the episodes already in a data folder takes a file open each; the
control thread must never wait for either, so the robot stays drivable while a save runs. One saver
thread does the episode work in order (finish, discard, hand-off of an unfinished journal) and then
rewrites the older collector's side files (`scenario_progress.json`, `time_period_stats.json`); another
counts the folder once at start and hands the count to the saver thread. Each result comes back to the
control thread as an intent through `post` (`EpisodeSaveDone`, `ProgressLoaded`), all from the saver
thread and in order, so the counts the control thread keeps never count an episode twice. `close()` waits for every save handed over: nothing the
operator saved is lost when the session ends. This module never touches the robot and imports no textual.

The files already in the folder are untrusted (copied from elsewhere, fuzzed, half-synced): they are
counted in a child process (`recorder.isolated`), since a damaged HDF5 file can crash or hang the
library, and this is the process that drives the robot; one that does is counted as unreadable. The
files this saver wrote itself are read in-process.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mvla_tui.core.intents import EpisodeSaveDone, ProgressLoaded
from mvla_tui.robot.hooks import PartIntent
from recorder.catalogue import Catalogue
from recorder.errors import RecorderError
from recorder.isolated import IsolatedReader
from recorder.stats import (
    DatasetStats,
    collect,
    episode_files,
    episode_info,
    progress_files,
    write_json_atomic,
)
from recorder.writer import EpisodeWriter

log = logging.getLogger(__name__)

Cell = tuple[str, str, str]  # (scenario, pattern, distance)


@dataclass(frozen=True)
class _Finish:
    writer: EpisodeWriter
    outcome: str
    cell: Cell
    attrs: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class _Discard:
    writer: EpisodeWriter


@dataclass(frozen=True)
class _KeepJournal:
    writer: EpisodeWriter


@dataclass(frozen=True)
class _Counted:
    stats: DatasetStats


class _Close:
    pass


_Job = _Finish | _Discard | _KeepJournal | _Counted | _Close


def cell_counts(stats: DatasetStats) -> dict[Cell, int]:
    return dict(Counter(stats.cells))


class EpisodeSaver:
    def __init__(
        self,
        data_dir: Path,
        catalogue: Catalogue,
        post: Callable[[PartIntent], None],
        *,
        side_files: bool = True,
        count_existing: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.catalogue = catalogue
        self.post = post
        self.side_files = side_files
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._stats: DatasetStats | None = None  # the folder's episodes, once counted
        self._saved_meanwhile: list[Path] = []  # saved before the count finished
        self._thread = threading.Thread(target=self._serve, name="mvla-episode-saver", daemon=True)
        self._thread.start()
        self._counter: threading.Thread | None = None
        if count_existing:
            self._counter = threading.Thread(target=self._count, name="mvla-episode-count", daemon=True)
            self._counter.start()
        else:
            self._stats = DatasetStats()

    # ---- control thread ----------------------------------------------------------------------------

    def finish(
        self,
        writer: EpisodeWriter,
        outcome: str,
        cell: Cell,
        attrs: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        self._jobs.put(_Finish(writer, outcome, cell, dict(attrs or {})))

    def discard(self, writer: EpisodeWriter) -> None:
        self._jobs.put(_Discard(writer))

    def keep_journal(self, writer: EpisodeWriter) -> None:
        """The session ends mid-episode: keep its frames in the journal for `mvla dataset recover`."""
        self._jobs.put(_KeepJournal(writer))

    def close(self, timeout_s: float = 60.0) -> None:
        """Wait for every job handed over (saves are never dropped), then stop the thread."""
        self._jobs.put(_Close())
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("episode saver still busy after %.0f s; its journals stay recoverable", timeout_s)

    # ---- saver threads -----------------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if isinstance(job, _Close):
                return
            if isinstance(job, _Counted):
                self.post(self._counted(job.stats))
            else:
                self.post(self._do(job))

    def _do(self, job: _Finish | _Discard | _KeepJournal) -> EpisodeSaveDone:
        name = job.writer.name
        try:
            if isinstance(job, _Finish):
                path = job.writer.finish(job.outcome, job.attrs)
                return EpisodeSaveDone(name, path, None, job.outcome, job.cell, self._after_save(path))
            if isinstance(job, _Discard):
                job.writer.abort()
                return EpisodeSaveDone(name, None, None)
            journal = job.writer.detach()
            return EpisodeSaveDone(
                name,
                None,
                f"recording {name} not saved: its frames are kept in {journal.name}; "
                f"run `mvla dataset recover {self.data_dir}`",
            )
        except RecorderError as exc:
            return EpisodeSaveDone(name, None, str(exc))
        except Exception as exc:  # a bug must not kill the saver: later saves still need it
            log.exception("saving %s failed", name)
            return EpisodeSaveDone(name, None, f"saving {name} failed ({exc}); its journal stays recoverable")

    def _after_save(self, path: Path) -> dict[Cell, int] | None:
        """The folder's counts with this episode (None while the first count is still running)."""
        if self._stats is None:
            self._saved_meanwhile.append(path)
            return None
        self._stats.episodes.append(episode_info(path))
        self._write_side_files()
        return cell_counts(self._stats)

    def _count(self) -> None:
        try:
            with IsolatedReader() as reader:
                stats = collect(episode_files(self.data_dir), info=reader.info)
        except OSError as exc:
            log.error("cannot count the episodes in %s: %s", self.data_dir, exc)
            stats = DatasetStats()
        self._jobs.put(_Counted(stats))

    def _counted(self, stats: DatasetStats) -> ProgressLoaded:
        counted = {e.path for e in stats.episodes}
        saved, self._saved_meanwhile = self._saved_meanwhile, []
        stats.episodes += [episode_info(p) for p in saved if p not in counted]
        self._stats = stats
        if saved:  # the side files missed these saves
            self._write_side_files()
        return ProgressLoaded(cell_counts(stats), len(stats.unreadable))

    def _write_side_files(self) -> None:
        if not self.side_files or self._stats is None:
            return
        for name, data in progress_files(self._stats, self.catalogue, datetime.now()).items():
            try:
                write_json_atomic(self.data_dir / name, data)
            except OSError as exc:
                log.error("cannot update %s: %s", self.data_dir / name, exc)
