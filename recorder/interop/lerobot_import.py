"""`import_lerobot(src, out, defaults)`: a LeRobot v3 dataset (mvla's export, or a public one with one camera
and a 2- or 3-dimensional base action) back into episode files written by `recorder.writer.EpisodeWriter`,
so they have the standard layout and pass `mvla dataset check`.

Actions come back as stored (float32, bit-exact); a 2-dimensional action is read as
[linear_x, angular_z] (a differential-drive base) with linear_y 0. Images are decoded from the videos
(within the codec's error of the source) of the one camera, or of the one `camera` names. Scenario,
pattern, distance, outcome and event types come from mvla's extra columns, or from `defaults` for a
dataset without them; times from `recorded_timestamp` where it is known, else `timestamp`. One episode is
in memory at a time. The episodes are written into a hidden folder inside `out` and appear there
together only once the whole dataset has been read (`staging`): a damaged or incomplete dataset is one
line naming the file at fault, and `out` is left as it was. This module never modifies the dataset it
reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recorder.catalogue import EVENT_TYPES
from recorder.episode import EpisodeMeta
from recorder.errors import RecorderError
from recorder.interop import lerobot_layout as layout
from recorder.interop.staging import import_stage, publish_staged

DAMAGED = "the dataset is damaged or incomplete: download or export it again"
INFO_KEYS = ("fps", "features", "data_path", "video_path")  # what the import needs of info.json
DATA_COLUMNS = ("frame_index", "timestamp", "task_index")  # besides the action
CONVERTER = "lerobot.datasets.v30.convert_dataset_v21_to_v30"  # LeRobot's own v2.1 -> v3.0 converter


@dataclass(frozen=True)
class ImportDefaults:
    """Metadata for a dataset that does not carry mvla's columns."""

    scenario: str | None = None
    pattern: str | None = None
    distance: str | None = None


def import_lerobot(
    src: Path,
    out: Path,
    defaults: ImportDefaults | None = None,
    on_episode: Callable[[int, int], None] | None = None,
    camera: str | None = None,
) -> list[Path]:
    """Write every episode of the dataset `src` into the data folder `out` (created if missing); returns
    the new files. `camera`: the video feature to read (needed when the dataset has several).
    `on_episode(done, total)` after each."""
    defaults = defaults or ImportDefaults()
    info = _info(src)
    video_key = _camera(src, info, camera)
    action_dim = _action_dim(src, info)
    tasks_path = src / layout.TASKS_PATH
    with _reading(tasks_path):
        tasks = layout.read_tasks(tasks_path)
    episodes = _episode_rows(src, video_key)
    with import_stage(out, "lerobot") as stage:
        staged: list[Path] = []
        for done, ep in enumerate(episodes, 1):
            staged.append(_import_episode(src, stage, info, ep, video_key, action_dim, tasks, defaults))
            if on_episode is not None:
                on_episode(done, len(episodes))
        return publish_staged(staged, out, "dataset")


def _import_episode(
    src: Path,
    stage: Path,
    info: dict[str, Any],
    ep: dict[str, Any],
    video_key: str,
    action_dim: int,
    tasks: dict[int, str],
    defaults: ImportDefaults,
) -> Path:
    from recorder.writer import EpisodeWriter

    index = ep["episode_index"]
    fps = int(info["fps"])
    data_path = src / info["data_path"].format(
        chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"]
    )
    with _reading(data_path):
        import pyarrow.parquet as pq

        rows = pq.read_table(data_path, filters=[("episode_index", "=", index)])
    columns = rows.column_names
    missing_columns = [c for c in (layout.ACTION_KEY, *DATA_COLUMNS) if c not in columns]
    if missing_columns:
        raise RecorderError(f"{data_path}: no column {', '.join(missing_columns)}; {DAMAGED}")
    rows = rows.sort_by("frame_index")
    n = rows.num_rows
    length = ep.get("length")
    if n == 0 or (length is not None and n != length):
        raise RecorderError(
            f"{data_path}: {n} row(s) of episode {index}, meta/episodes says {length}; {DAMAGED}"
        )
    first = {c: rows[c][0].as_py() for c in ("scenario", "pattern", "distance", "outcome") if c in columns}
    given = {k: first.get(k) or getattr(defaults, k) for k in ("scenario", "pattern", "distance")}
    missing = [k for k, v in given.items() if not v]
    if missing:
        raise RecorderError(
            f"{src}: episode {index} has no {', '.join(missing)}; pass "
            + " ".join(f"--{k} ..." for k in missing)
        )
    try:
        actions = np.asarray(rows[layout.ACTION_KEY].to_pylist(), np.float32).reshape(n, -1)
    except (TypeError, ValueError):
        actions = np.zeros((n, 0), np.float32)  # ragged or not numbers: refused just below
    if actions.shape[1] != action_dim:
        raise RecorderError(
            f"{data_path}: `action` of episode {index} is not {action_dim} numbers per row as "
            f"{layout.INFO_PATH} declares; {DAMAGED}"
        )
    if action_dim == 2:
        actions = np.stack([actions[:, 0], np.zeros(n, np.float32), actions[:, 1]], axis=1)
    video_path = src / info["video_path"].format(
        video_key=video_key,
        chunk_index=ep[f"videos/{video_key}/chunk_index"],
        file_index=ep[f"videos/{video_key}/file_index"],
    )
    images = decode_episode(video_path, float(ep[f"videos/{video_key}/from_timestamp"]), n, fps)
    meta = EpisodeMeta(
        scenario=given["scenario"],
        pattern=given["pattern"],
        distance=given["distance"],
        instruction=tasks.get(rows["task_index"][0].as_py()),
        robot=info.get("robot_type"),
        camera=f"lerobot:{images.shape[2]}x{images.shape[1]}",
    )
    times = np.asarray(rows["timestamp"].to_pylist(), np.float64)
    if layout.RECORDED_TIME in columns:
        recorded = np.asarray(rows[layout.RECORDED_TIME].to_pylist(), np.float64)
        times = recorded if (recorded >= 0).all() else times
    events = (
        rows["event_type"].to_pylist()
        if "event_type" in columns
        else ["episode_start"] + ["start_action"] * (n - 1)
    )
    events = [e if e in EVENT_TYPES else "start_action" for e in events]
    outcome = first.get("outcome") or "unspecified"
    with EpisodeWriter(stage, meta, extra_attrs={"lerobot_source": f"{src.name}#{index}"}) as writer:
        for image, action, event, t in zip(images, actions, events, times, strict=True):
            writer.append(image, action, event, timestamp=float(t))
        return writer.finish(outcome=outcome if outcome in ("success", "failure") else "unspecified")


def decode_episode(video: Path, from_ts: float, frames: int, fps: int) -> np.ndarray:
    """The `frames` RGB frames (N, H, W, 3) uint8 of the episode that starts at `from_ts` s in `video`:
    frame k is the one shown at from_ts + k / fps (LeRobot's own rule, `timestamp = frame_index / fps`)."""
    import av

    found: dict[int, np.ndarray] = {}
    with _reading(video), av.open(str(video)) as container:
        stream = container.streams.video[0]
        container.seek(int(max(0.0, from_ts - 1.0) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            k = round((float(frame.pts * stream.time_base) - from_ts) * fps)
            if k >= frames:
                break
            if k >= 0:
                found[k] = frame.to_ndarray(format="rgb24")
    missing = [k for k in range(frames) if k not in found]
    if missing:
        raise RecorderError(
            f"{video}: frame(s) {missing[:5]} of the episode at {from_ts:.3f} s are not in the video"
        )
    return np.stack([found[k] for k in range(frames)])


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A missing file, or the parquet or video library failing on it, as one line naming `path`."""
    import av
    import pyarrow as pa

    if not path.is_file():
        raise RecorderError(f"{path}: missing; {DAMAGED}")
    try:
        yield
    except (OSError, pa.ArrowException, av.FFmpegError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RecorderError(f"{path}: unreadable ({reason}); {DAMAGED}") from None


def _info(src: Path) -> dict[str, Any]:
    path = src / layout.INFO_PATH
    if not src.is_dir():
        raise RecorderError(f"{src}: no such folder; pass the folder of a LeRobot v3 dataset")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecorderError(
            f"{src}: no {layout.INFO_PATH}; pass the folder of a LeRobot v3 dataset"
        ) from None
    except (OSError, ValueError) as exc:
        raise RecorderError(f"{path}: unreadable ({exc}); {DAMAGED}") from None
    if not isinstance(info, dict):
        raise RecorderError(f"{path}: not a JSON object; {DAMAGED}")
    version = info.get("codebase_version")
    if not str(version).startswith("v3"):
        raise RecorderError(
            f"{path}: codebase_version {version!r}; mvla reads LeRobot v3 datasets: convert it first with "
            f"LeRobot's `python -m {CONVERTER}`"
        )
    missing = [k for k in INFO_KEYS if k not in info]
    if missing:
        raise RecorderError(f"{path}: no {', '.join(map(repr, missing))}; {DAMAGED}")
    fps = info["fps"]
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps < 1 or fps != int(fps):
        raise RecorderError(f"{path}: fps {fps!r} is not a whole number >= 1; {DAMAGED}")
    if not isinstance(info["features"], dict):
        raise RecorderError(f"{path}: `features` is not a JSON object; {DAMAGED}")
    return info


def _camera(src: Path, info: dict[str, Any], wanted: str | None) -> str:
    """The video feature to read: `wanted`, or the dataset's only one."""
    videos = [k for k, f in info["features"].items() if isinstance(f, dict) and f.get("dtype") == "video"]
    if wanted is not None:
        if wanted not in videos:
            raise RecorderError(
                f"{src}: no camera {wanted!r} (--camera); its cameras are: {', '.join(videos) or 'none'}"
            )
        return wanted
    if not videos:
        raise RecorderError(
            f"{src / layout.INFO_PATH}: no feature of dtype video; mvla reads datasets whose camera is "
            "stored as video"
        )
    if len(videos) > 1:
        raise RecorderError(
            f"{src}: {len(videos)} cameras ({', '.join(videos)}); pass --camera KEY to import one of them"
        )
    return videos[0]


def _action_dim(src: Path, info: dict[str, Any]) -> int:
    action = info["features"].get(layout.ACTION_KEY)
    shape = action.get("shape") if isinstance(action, dict) else None
    if shape not in ([2], [3]):
        raise RecorderError(
            f"{src}: `{layout.ACTION_KEY}` has shape {shape}; mvla reads a mobile base's velocity: 2 numbers "
            "[linear_x, angular_z] or 3 [linear_x, linear_y, angular_z]"
        )
    return int(shape[0])


def _episode_rows(src: Path, video_key: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    files = sorted((src / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not files:
        raise RecorderError(f"{src}: no meta/episodes/chunk-*/file-*.parquet; not a LeRobot v3 dataset")
    needed = (
        "episode_index",
        "data/chunk_index",
        "data/file_index",
        *(f"videos/{video_key}/{k}" for k in ("chunk_index", "file_index", "from_timestamp")),
    )
    rows: list[dict[str, Any]] = []
    for path in files:
        with _reading(path):
            names = pq.read_schema(path).names
            missing = [c for c in needed if c not in names]
            if missing:
                raise RecorderError(f"{path}: no column {', '.join(missing)}; {DAMAGED}")
            table = pq.read_table(path, columns=[c for c in names if not c.startswith("stats/")])
        rows.extend(table.to_pylist())
    return sorted(rows, key=lambda r: r["episode_index"])
