"""`EpisodeWriter`: records one episode crash-safely and returns the final V4 file.

Frames go to disk as they are appended: `append` copies the frame and hands it to a small thread
pool that splits it into B, G, R planes and deflates them (both release the GIL, so frames compress
in parallel); one journal thread writes the compressed frames in order into `.<name>.h5.partial`
beside the target. `finish()` drains the queue, builds the HDF5 file from the journal without
compressing again, fsyncs and renames it atomically, then removes the journal. A process that dies
mid-episode leaves only the journal, which `recorder.recover` turns into an episode marked recovered;
so does a full disk in `finish()`, which removes only the half-built file. A write error while
recording aborts the episode.

The caller never waits on compression: when half of `max_pending` frames are still queued (the CPU
is busy with something else), new frames are stored uncompressed (deflate level 0, still a valid gzip
chunk) until the queue shrinks, so the file grows instead of the camera loop stalling;
`raw_frames` counts them. Only a disk slower than the camera fills the queue and blocks `append`.

The journal is not fsynced per frame: it survives the death of the process (the data is in the page
cache), not a power cut. The writer never shows anything to the user and never touches the robot.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import numpy as np

from configs.files import publish_file
from recorder import h5write, journal
from recorder.catalogue import EVENT_TYPES, Catalogue, load_catalogue
from recorder.episode import OUTCOMES, EpisodeMeta
from recorder.errors import RecorderError
from recorder.intervention import FrameAnnotation
from recorder.naming import episode_name

__all__ = ["EpisodeWriter", "RecorderError"]


class _Pending(NamedTuple):
    """A frame on its way to the journal: its planes being compressed, and the rest of its record."""

    planes: Future[tuple[bytes, bytes, bytes]]
    timestamp: float
    action: np.ndarray  # (3,) float32
    event_type: str
    height: int
    width: int
    annotation: FrameAnnotation | None


def _collector() -> str:
    """`mvla <version>` as installed; a source tree that was never installed says so."""
    try:
        return f"mvla {metadata.version('mobile-vla')}"
    except metadata.PackageNotFoundError:
        return "mvla (not installed)"


class EpisodeWriter:
    """Context manager: `append(...)` frames, `finish()` -> path; leaving without `finish()` aborts."""

    def __init__(
        self,
        data_dir: str | Path,
        meta: EpisodeMeta,
        *,
        catalogue: Catalogue | None = None,
        extra_attrs: Mapping[str, str | int | float | bool] | None = None,
        compression_level: int = 1,
        workers: int | None = None,
        max_pending: int = 32,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.data_dir = Path(data_dir)
        if not self.data_dir.is_dir():
            raise RecorderError(f"{self.data_dir}: data folder does not exist; create it first")
        catalogue = catalogue or load_catalogue()
        self._clock = clock
        self._now = now
        # ISA-L level 1 deflates a 1280x720 camera frame in ~9 ms on one core (zlib level 1: ~55 ms),
        # which is what sustains 30 frames/s on a busy 2-core machine.
        if compression_level not in (0, 1, 2, 3):
            raise RecorderError(f"compression_level must be 0 (none) to 3, got {compression_level!r}")
        self._level = compression_level
        started = now()
        episode_name(meta, started, catalogue)  # names what is missing or unknown before any file exists
        instruction = meta.instruction or catalogue.default_instruction(meta.scenario or "")
        if len(instruction.encode("utf-8")) > int(h5write.INSTRUCTION_DTYPE[1:]):
            raise RecorderError(f"instruction longer than {h5write.INSTRUCTION_DTYPE[1:]} bytes; shorten it")
        extra = h5write.check_extra_attrs(extra_attrs or {})
        self.name, self._fd = self._claim(meta, started, catalogue)
        self.journal = journal.journal_path(self.data_dir, self.name)
        self.path = self.data_dir / f"{self.name}.h5"
        self._header = journal.JournalHeader(
            name=self.name,
            scenario=meta.scenario,
            pattern=catalogue.normalise_pattern(meta.pattern or ""),
            distance=meta.distance,
            layout=catalogue.get(meta.scenario or "").layout,
            instruction=instruction,
            robot=meta.robot,
            camera=meta.camera,
            collector=meta.collector or _collector(),
            started=started.isoformat(),
            compression_level=compression_level,
            extra_attrs=extra,
        )
        self._t0 = clock()
        self._frames: list[journal.JournalFrame] = []
        self._caller_clock = False  # timestamps come from the caller (e.g. simulated time)
        self._appended = 0
        self._offset = 0
        self._shape: tuple[int, int] | None = None
        self._error: RecorderError | None = None
        self._closed = False
        try:
            self._offset = self._write([journal.header_bytes(self._header.to_record())])
        except OSError as exc:
            self._closed = True
            self._abort_files()
            raise self._disk_error(exc) from None
        self._slots = threading.BoundedSemaphore(max_pending)
        self._raw_above = max_pending // 2
        self._pending = 0  # frames appended but not yet in the journal
        self._pending_lock = threading.Lock()
        self.raw_frames = 0  # frames stored uncompressed because the CPU could not keep up
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()  # None: stop
        self._pool = ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1))
        self._thread = threading.Thread(target=self._journal_loop, name=f"journal {self.name}", daemon=True)
        self._thread.start()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._closed:
            self.abort()

    def __len__(self) -> int:
        """Frames appended so far."""
        return self._appended

    def append(
        self,
        image_rgb: np.ndarray,
        action: np.ndarray,
        event_type: str,
        timestamp: float | None = None,
        annotation: FrameAnnotation | None = None,
    ) -> None:
        """Queue one frame: image RGB uint8 (H, W, 3), action float (3,), event type of EVENT_TYPES;
        `annotation` (who drove it, the policy's proposal, the instruction) in an episode a policy may
        drive (`recorder.intervention`)."""
        self._raise_if_unusable()
        image_rgb = np.asarray(image_rgb)
        if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise RecorderError(f"image must be RGB uint8 (H, W, 3), got {image_rgb.dtype} {image_rgb.shape}")
        shape = (image_rgb.shape[0], image_rgb.shape[1])
        if self._shape is None:
            self._shape = shape
        elif shape != self._shape:
            raise RecorderError(
                f"frame size changed from {self._shape} to {shape} within episode {self.name}"
            )
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        if action.shape != (3,) or not np.isfinite(action).all():
            raise RecorderError(
                f"action must be 3 finite numbers [linear_x, linear_y, angular_z], got {action}"
            )
        if event_type not in EVENT_TYPES:
            raise RecorderError(f"unknown event type {event_type!r}; use one of {', '.join(EVENT_TYPES)}")
        if timestamp is None:
            timestamp = self._clock() - self._t0
        else:
            try:
                timestamp = float(timestamp)
            except (TypeError, ValueError):
                raise RecorderError(f"timestamp must be a number of seconds, got {timestamp!r}") from None
            if not math.isfinite(timestamp):  # check() would call the file non_finite
                raise RecorderError(f"timestamp must be a finite number of seconds, got {timestamp}")
            self._caller_clock = True
        # The copy (a plain memcpy) is what makes the caller free to reuse its buffer at once.
        image = np.array(image_rgb, order="C", copy=True)
        self._slots.acquire()
        with self._pending_lock:
            backlog = self._pending
            self._pending += 1
        level = self._level if backlog < self._raw_above else 0
        if level == 0 and self._level != 0:
            self.raw_frames += 1
        future = self._pool.submit(journal.compress_frame, image, level)
        self._queue.put(_Pending(future, float(timestamp), action, event_type, *shape, annotation))
        self._appended += 1

    def finish(
        self, outcome: str = "unspecified", extra_attrs: Mapping[str, str | int | float | bool] | None = None
    ) -> Path:
        """Make the episode durable under its final name and return that path; `outcome` (OUTCOMES) is
        how the episode ended (root attribute `outcome`); `extra_attrs` adds root attributes known only
        now (a salvaged journal has only those given at the start)."""
        if outcome not in OUTCOMES:
            raise RecorderError(f"outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
        extra = h5write.check_extra_attrs(extra_attrs or {})
        self._raise_if_unusable()
        self._header = dataclasses.replace(self._header, extra_attrs={**self._header.extra_attrs, **extra})
        self._drain()
        if self._error is not None:
            error = self._error
            self.abort()
            raise error
        if not self._frames:
            self.abort()
            raise RecorderError(f"episode {self.name} has no frames; nothing was saved")
        build = journal.build_path(self.data_dir, self.name)
        saved_at = self._now()
        try:
            with open(self.journal, "rb") as source:
                h5write.write_episode_file(
                    build,
                    self._header,
                    self._frames,
                    source,
                    saved_at=saved_at,
                    # On the caller's clock the episode lasts until its last frame; on ours, until
                    # the save, as the older collector measured it.
                    total_duration=self._frames[-1].timestamp
                    if self._caller_clock
                    else self._clock() - self._t0,
                    recovered=False,
                    outcome=outcome,
                )
            publish_file(build, self.path)
        except OSError as exc:
            # Every frame is safe in the journal; only the half-built file goes (rebuilding it needs
            # the same space again, so a full disk most likely strikes here).
            self._closed = True
            self._close_fd()
            build.unlink(missing_ok=True)
            raise self._finish_error(exc) from None
        self._closed = True
        self._close_fd()
        # The episode is safe now; a journal left here by a crash is recognised as already saved.
        self.journal.unlink()
        return self.path

    def detach(self) -> Path:
        """Stop recording but keep every frame in the journal, for `mvla dataset recover` (which saves
        it with outcome "unspecified"): what a session that ends mid-episode does. Returns the journal."""
        self._raise_if_unusable()
        self._closed = True
        self._drain()
        self._close_fd()  # also releases the lock, so recover may take it
        return self.journal

    def abort(self) -> None:
        """Throw the episode away: stop the journal thread and remove every temporary file."""
        if self._closed:
            return
        self._closed = True
        self._drain(discard=True)
        self._abort_files()

    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise RecorderError(f"episode {self.name} is already finished or aborted; start a new one")
        if self._error is not None:
            error = self._error
            self.abort()
            raise error

    def _claim(self, meta: EpisodeMeta, started: datetime, catalogue: Catalogue) -> tuple[str, int]:
        """Create the journal under a name nobody uses. Names are unique to the second: a taken one
        (final file or another recording) moves on to the next free second, so the file name keeps
        the pattern older tools parse."""
        for step in range(3600):
            name = episode_name(meta, started + timedelta(seconds=step), catalogue)
            if (self.data_dir / f"{name}.h5").exists():
                continue
            try:
                fd = os.open(
                    journal.journal_path(self.data_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644
                )
            except FileExistsError:
                continue
            except OSError as exc:
                raise RecorderError(
                    f"{self.data_dir}: cannot create a recording there ({exc.strerror})"
                ) from None
            journal.lock(fd)
            return name, fd
        raise RecorderError(f"{self.data_dir}: no free episode name within an hour of {started:%H:%M:%S}")

    def _journal_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if self._error is None:
                    self._write_frame(item)
            finally:
                with self._pending_lock:
                    self._pending -= 1
                self._slots.release()

    def _write_frame(self, frame: _Pending) -> None:
        try:
            planes = frame.planes.result()
            parts = journal.frame_parts(
                planes, frame.timestamp, frame.action, frame.event_type, frame.height, frame.width
            )
            if frame.annotation is not None:
                parts.append(journal.annotation_record(frame.annotation))
            start = self._offset
            self._offset += self._write(parts)
        except OSError as exc:
            self._error = self._disk_error(exc)
            return
        except Exception as exc:  # reported to the caller at the next append() or finish()
            self._error = RecorderError(
                f"episode {self.name}: frame could not be recorded ({exc}); episode aborted"
            )
            return
        action = frame.action
        self._frames.append(
            journal.JournalFrame(
                start + journal.frame_header_size(),
                (len(planes[0]), len(planes[1]), len(planes[2])),
                frame.timestamp,
                (float(action[0]), float(action[1]), float(action[2])),
                frame.event_type,
                frame.height,
                frame.width,
                frame.annotation,
            )
        )

    def _write(self, parts: list[bytes]) -> int:
        total = sum(len(p) for p in parts)
        written = os.writev(self._fd, parts)
        if written < total:  # a short write (signal, nearly full disk): finish the rest by hand
            rest = memoryview(b"".join(parts))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        return total

    def _drain(self, discard: bool = False) -> None:
        if discard and self._error is None:
            self._error = RecorderError(f"episode {self.name} aborted")
        self._queue.put(None)
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=discard)

    def _abort_files(self) -> None:
        self._close_fd()
        for path in (
            journal.journal_path(self.data_dir, self.name),
            journal.build_path(self.data_dir, self.name),
        ):
            path.unlink(missing_ok=True)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _finish_error(self, exc: OSError) -> RecorderError:
        reason = "disk full" if exc.errno == errno.ENOSPC else f"cannot write ({exc.strerror or exc})"
        return RecorderError(
            f"{reason} in {self.data_dir} while saving episode {self.name}: all {len(self._frames)} "
            f"frame(s) are kept in its temporary file; free some space, then run "
            f"`mvla dataset recover {self.data_dir}`"
        )

    def _disk_error(self, exc: OSError) -> RecorderError:
        if exc.errno == errno.ENOSPC:
            return RecorderError(
                f"disk full in {self.data_dir} while saving episode {self.name}: episode aborted and its "
                "temporary files removed; free some space and record it again"
            )
        return RecorderError(
            f"cannot write episode {self.name} in {self.data_dir} ({exc.strerror or exc}); episode aborted"
        )
