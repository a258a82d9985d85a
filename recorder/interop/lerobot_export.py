"""`export_lerobot(src, out, options)`: a folder of mvla episode files as a LeRobot v3 dataset, written with
pyarrow and PyAV (extra `lerobot`), never importing lerobot.

Resampling: one row per recorded frame. mvla records on events (one frame per key press, each press a
0.4 s move), not at a fixed rate, so the dataset declares a nominal `fps` (default 2, about the press
rate) and `timestamp = frame_index / fps` as LeRobot requires, while the time each frame was really
taken goes to the column `recorded_timestamp` (-1 for files of the older collector, which have none).
Holding the last action at a fixed rate would invent frames and turn one press into several steps
of a different meaning; one row per frame keeps every action bit-exact and every frame the camera's.

Episodes are streamed one at a time (memory does not grow with their number): each is checked and read
in a child process (`recorder.isolated`), so a damaged file is skipped with the check's reason and
counted, never crashing the export. Its frames go to the open video file of the camera (episodes
back to back, a new file at about VIDEO_FILE_MB), its rows to the open data file, its metadata and
statistics to the episodes file. Everything is built in a hidden folder beside `out` that replaces it
only when complete (`configs.files.staged_dir`). This module never modifies an episode file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from configs.files import staged_dir
from recorder.catalogue import load_catalogue
from recorder.episode import Episode
from recorder.errors import EpisodeFileError, RecorderError
from recorder.interop import lerobot_layout as layout
from recorder.interop.lerobot_stats import Stats, as_json, combine, image_stats, vector_stats

EPISODES_PER_FLUSH = 100  # episode rows written to meta/episodes at a time
MB = 1024 * 1024


@dataclass(frozen=True)
class ExportOptions:
    fps: int = layout.DEFAULT_FPS
    codec: str = layout.DEFAULT_CODEC
    crf: int = 23  # x264's default quality; lower is closer to the source and larger
    gop: int = 2  # a keyframe every 2 frames, as LeRobot encodes: any frame decodes fast
    repo_id: str = "local/mvla"
    overwrite: bool = False
    timeout_s: float = 60.0


@dataclass
class ExportResult:
    out: Path
    episodes: int = 0
    frames: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    source_bytes: int = 0  # of the episode files exported
    dataset_bytes: int = 0


def export_lerobot(
    src: Path,
    out: Path,
    options: ExportOptions | None = None,
    on_file: Callable[[Path, str], None] | None = None,
) -> ExportResult:
    """Export every episode file of `src` into the LeRobot v3 dataset `out`; `on_file(path, status)`
    after each file. A `RecorderError` (one line) when nothing can be exported or `out` is in the way."""
    from recorder.isolated import IsolatedReader
    from recorder.stats import episode_files

    options = options or ExportOptions()
    _check_target(src, out, options)
    files = episode_files(src)
    if not files:
        raise RecorderError(f"{src}: no episode files (*.h5) in this folder")
    encoder = layout.pick_encoder(options.codec)
    result = ExportResult(out)
    with staged_dir(out) as stage, IsolatedReader(timeout_s=options.timeout_s) as reader:
        writer = _DatasetWriter(stage, options, encoder)
        try:
            for path in files:
                status = _export_one(reader, path, writer, result)
                if on_file is not None:
                    on_file(path, status)
            if not writer.episodes:
                raise RecorderError(
                    f"{src}: none of {len(files)} episode file(s) could be exported "
                    f"(first: {result.skipped[0][0].name}: {result.skipped[0][1]}); run `mvla dataset check {src}`"
                )
        finally:
            writer.close()
        writer.write_meta()
        result.episodes, result.frames = writer.episodes, writer.frames
    result.dataset_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return result


def _check_target(src: Path, out: Path, options: ExportOptions) -> None:
    if not src.is_dir():
        raise RecorderError(f"{src}: no such folder; pass the folder that holds the episode files")
    if options.fps < 1:
        raise RecorderError(f"--fps must be a whole number of frames per second >= 1, got {options.fps}")
    src_abs, out_abs = src.resolve(), out.resolve()
    if out_abs == src_abs or src_abs in out_abs.parents or out_abs in src_abs.parents:
        raise RecorderError(
            f"{out}: the dataset must go outside the episode folder {src} (and not contain it)"
        )
    if os.path.lexists(out):
        if not (out / layout.INFO_PATH).is_file():
            raise RecorderError(f"{out}: exists and is not a LeRobot dataset; choose a new --out folder")
        if not options.overwrite:
            raise RecorderError(
                f"{out}: already holds a LeRobot dataset; mvla does not append to one: export to a new "
                f"--out folder, or pass --overwrite to rebuild it from {src} (replaced only when complete)"
            )


def _export_one(reader: Any, path: Path, writer: _DatasetWriter, result: ExportResult) -> str:
    report = reader.inspect(path)
    if not report.ok:
        result.skipped.append((path, str(report.problems[0])))
        return "skipped"
    try:
        episode = reader.episode(path)
    except EpisodeFileError as exc:
        result.skipped.append((path, exc.detail))
        return "skipped"
    refusal = writer.refusal(episode)
    if refusal:
        result.skipped.append((path, refusal))
        return "skipped"
    writer.add(episode)
    result.source_bytes += path.stat().st_size
    return "exported"


class _DatasetWriter:
    """The open files of a dataset being written: data parquet, camera video, episode rows."""

    def __init__(self, root: Path, options: ExportOptions, encoder: str) -> None:
        self.root, self.options, self.encoder = root, options, encoder
        self.shape: tuple[int, int] | None = None
        self.episodes = self.frames = 0
        self.tasks: dict[str, int] = {}
        self.stats: dict[str, Stats] = {}
        self._data: Any = None  # pyarrow ParquetWriter of the open data file
        self._data_at = (0, 0)
        self._video: _VideoFile | None = None
        self._video_at = (0, 0)
        self._episode_rows: list[dict[str, Any]] = []
        self._episodes_file: Any = None
        self._catalogue = load_catalogue()

    def refusal(self, episode: Episode) -> str | None:
        height, width = episode.images.shape[1:3]
        if height % 2 or width % 2:
            return f"frame size {width}x{height} is odd; the video (yuv420p) needs even sizes"
        if self.shape is not None and (height, width) != self.shape:
            return f"frames are {width}x{height}, the dataset's are {self.shape[1]}x{self.shape[0]}"
        return None

    def add(self, episode: Episode) -> None:
        import pyarrow as pa

        n = len(episode)
        self.shape = self.shape or (int(episode.images.shape[1]), int(episode.images.shape[2]))
        task = self._task(episode)
        task_index = self.tasks.setdefault(task, len(self.tasks))
        frame_index = np.arange(n, dtype=np.int64)
        columns: dict[str, Any] = {
            layout.ACTION_KEY: np.asarray(episode.actions, np.float32),
            "timestamp": (frame_index / self.options.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(n, self.episodes, np.int64),
            "index": np.arange(self.frames, self.frames + n, dtype=np.int64),
            "task_index": np.full(n, task_index, np.int64),
            layout.RECORDED_TIME: (
                np.full(n, -1.0) if episode.timestamps is None else np.asarray(episode.timestamps, np.float64)
            ),
        }
        meta = episode.meta
        strings = {
            "event_type": list(episode.event_types),
            "scenario": [meta.scenario or ""] * n,
            "pattern": [meta.pattern or ""] * n,
            "distance": [meta.distance or ""] * n,
            "outcome": [meta.outcome or ""] * n,
        }
        table = pa.table(
            {
                **{k: v for k, v in columns.items() if k != layout.ACTION_KEY},
                layout.ACTION_KEY: pa.FixedSizeListArray.from_arrays(
                    columns[layout.ACTION_KEY].reshape(-1), 3
                ),
                **{k: pa.array(v, pa.string()) for k, v in strings.items()},
            }
        )
        data_at = self._write_data(table)
        video_at, from_ts = self._write_video(episode.images)
        ep_stats = {key: vector_stats(value) for key, value in columns.items()}
        ep_stats[layout.IMAGE_KEY] = image_stats(episode.images)
        self.stats = (
            ep_stats if not self.stats else {k: combine(self.stats[k], v) for k, v in ep_stats.items()}
        )
        key = layout.IMAGE_KEY
        row: dict[str, Any] = {
            "episode_index": self.episodes,
            "tasks": [task],
            "length": n,
            "data/chunk_index": data_at[0],
            "data/file_index": data_at[1],
            "dataset_from_index": self.frames,
            "dataset_to_index": self.frames + n,
            f"videos/{key}/chunk_index": video_at[0],
            f"videos/{key}/file_index": video_at[1],
            f"videos/{key}/from_timestamp": from_ts,
            f"videos/{key}/to_timestamp": from_ts + n / self.options.fps,
            "meta/episodes/chunk_index": 0,
            "meta/episodes/file_index": 0,
            "source_episode": episode.path.name,
        }
        for feature, stats in ep_stats.items():
            for name, value in stats.items():
                row[f"stats/{feature}/{name}"] = value.tolist()
        self._episode_rows.append(row)
        if len(self._episode_rows) >= EPISODES_PER_FLUSH:
            self._flush_episodes()
        self.episodes += 1
        self.frames += n

    def _task(self, episode: Episode) -> str:
        if episode.meta.instruction:
            return episode.meta.instruction
        try:
            return self._catalogue.default_instruction(episode.meta.scenario or "") or "unspecified task"
        except RecorderError:
            return "unspecified task"

    def _write_data(self, table: Any) -> tuple[int, int]:
        import pyarrow.parquet as pq

        path = self.root / layout.DATA_PATH.format(chunk_index=self._data_at[0], file_index=self._data_at[1])
        if self._data is not None and path.stat().st_size >= layout.DATA_FILE_MB * MB:
            self._data.close()
            self._data = None
            self._data_at = _next(self._data_at)
            path = self.root / layout.DATA_PATH.format(
                chunk_index=self._data_at[0], file_index=self._data_at[1]
            )
        if self._data is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._data = pq.ParquetWriter(path, table.schema, compression="snappy")
        self._data.write_table(table)
        return self._data_at

    def _write_video(self, images: np.ndarray) -> tuple[tuple[int, int], float]:
        if self._video is not None and self._video.bytes >= layout.VIDEO_FILE_MB * MB:
            self._video.close()
            self._video = None
            self._video_at = _next(self._video_at)
        if self._video is None:
            path = self.root / layout.VIDEO_PATH.format(
                video_key=layout.IMAGE_KEY, chunk_index=self._video_at[0], file_index=self._video_at[1]
            )
            assert self.shape is not None
            self._video = _VideoFile(path, self.encoder, self.shape, self.options)
        from_ts = self._video.frames / self.options.fps
        self._video.write(images)
        return self._video_at, from_ts

    def _flush_episodes(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._episode_rows:
            return
        if self._episodes_file is None:
            table = pa.Table.from_pylist(self._episode_rows)
            path = self.root / layout.EPISODES_PATH.format(chunk_index=0, file_index=0)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._episodes_file = pq.ParquetWriter(path, table.schema, compression="snappy")
        else:
            table = pa.Table.from_pylist(self._episode_rows, schema=self._episodes_file.schema)
        self._episodes_file.write_table(table)
        self._episode_rows.clear()

    def close(self) -> None:
        """Close every open file (also after an error: the staging folder then goes)."""
        if self._data is not None:
            self._data.close()
            self._data = None
        if self._video is not None:
            self._video.close()
            self._video = None
        if self.episodes:
            self._flush_episodes()
        if self._episodes_file is not None:
            self._episodes_file.close()
            self._episodes_file = None

    def write_meta(self) -> None:
        assert self.shape is not None
        opts = self.options
        info = {
            "codebase_version": layout.CODEBASE_VERSION,
            "robot_type": layout.ROBOT_TYPE,
            "total_episodes": self.episodes,
            "total_frames": self.frames,
            "total_tasks": len(self.tasks),
            "chunks_size": layout.CHUNKS_SIZE,
            "data_files_size_in_mb": layout.DATA_FILE_MB,
            "video_files_size_in_mb": layout.VIDEO_FILE_MB,
            "fps": opts.fps,
            "splits": {"train": f"0:{self.episodes}"},
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH,
            "features": layout.features(*self.shape, opts.fps, _codec_name(self.encoder)),
        }
        layout.write_json(self.root / layout.INFO_PATH, info)
        layout.write_json(self.root / layout.STATS_PATH, as_json(self.stats))
        layout.write_tasks(self.root / layout.TASKS_PATH, list(self.tasks))
        (self.root / "README.md").write_text(_card(opts, self.episodes, self.frames), encoding="utf-8")


class _VideoFile:
    """One camera's mp4 being written: frames of many episodes back to back at the nominal fps."""

    def __init__(self, path: Path, encoder: str, shape: tuple[int, int], options: ExportOptions) -> None:
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = options.fps
        container: Any = av.open(str(path), mode="w")
        stream: Any = container.add_stream(encoder, rate=options.fps)
        stream.height, stream.width = shape
        stream.pix_fmt = "yuv420p"
        self.container, self.stream = container, stream
        opts: dict[str, str] = {"g": str(options.gop), "crf": str(options.crf)}
        if encoder == "libsvtav1":
            opts["preset"] = "12"  # SVT-AV1's fastest: the export must keep up with a 2-core machine
        stream.options = opts
        self.frames = 0
        self.bytes = 0

    def write(self, images: np.ndarray) -> None:
        import av

        for image in images:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames
            frame.time_base = Fraction(1, self.fps)
            self._mux(self.stream.encode(frame))
            self.frames += 1

    def _mux(self, packets: Any) -> None:
        for packet in packets:
            self.bytes += packet.size
            self.container.mux(packet)

    def close(self) -> None:
        self._mux(self.stream.encode(None))
        self.container.close()


def _next(at: tuple[int, int]) -> tuple[int, int]:
    chunk, file = at
    return (chunk + 1, 0) if file == layout.CHUNKS_SIZE - 1 else (chunk, file + 1)


def _codec_name(encoder: str) -> str:
    return "h264" if "264" in encoder else "av1"


def _card(options: ExportOptions, episodes: int, frames: int) -> str:
    return (
        f"---\ntags: [LeRobot, mvla]\nrepo_id: {options.repo_id}\n---\n"
        f"# {options.repo_id}\n\nA LeRobot v3.0 dataset exported by `mvla dataset export --format lerobot`: "
        f"{episodes} episode(s), {frames} frame(s), one row per recorded frame (one per key press) at a "
        f"nominal {options.fps} frames/s; the recorded times are in `{layout.RECORDED_TIME}`.\n"
    )
