"""`import_lerobot(src, out, defaults)`: a LeRobot v3 dataset (mvla's export, or a public one with one camera
and a 2- or 3-dimensional base action) back into episode files written by `recorder.writer.EpisodeWriter`,
so they have the standard layout and pass `mvla dataset check`.

Actions come back as stored (float32, bit-exact); a 2-dimensional action is read as
[linear_x, angular_z] (a differential-drive base) with linear_y 0. Images are decoded from the videos
(within the codec's error of the source). Scenario, pattern, distance, outcome and event types come from
mvla's extra columns, or from `defaults` for a dataset without them; times from `recorded_timestamp`
where it is known, else `timestamp`. One episode is in memory at a time. This module never modifies
the dataset it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recorder.catalogue import EVENT_TYPES
from recorder.episode import EpisodeMeta
from recorder.errors import RecorderError
from recorder.interop import lerobot_layout as layout


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
) -> list[Path]:
    """Write every episode of the dataset `src` into the data folder `out` (created if missing); returns
    the new files. `on_episode(done, total)` after each."""
    import pyarrow.parquet as pq

    from recorder.writer import EpisodeWriter

    defaults = defaults or ImportDefaults()
    info = _info(src)
    video_key, action_key = _keys(src, info)
    fps = int(info["fps"])
    tasks = layout.read_tasks(src / layout.TASKS_PATH)
    episodes = _episode_rows(src)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for done, ep in enumerate(episodes, 1):
        data_path = src / info["data_path"].format(
            chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"]
        )
        rows = pq.read_table(data_path, filters=[("episode_index", "=", ep["episode_index"])]).sort_by(
            "frame_index"
        )
        columns = rows.column_names
        n = rows.num_rows
        actions = np.asarray(rows[action_key].to_pylist(), np.float32).reshape(n, -1)
        if actions.shape[1] == 2:
            actions = np.stack([actions[:, 0], np.zeros(n, np.float32), actions[:, 1]], axis=1)
        video_path = src / info["video_path"].format(
            video_key=video_key,
            chunk_index=ep[f"videos/{video_key}/chunk_index"],
            file_index=ep[f"videos/{video_key}/file_index"],
        )
        images = decode_episode(video_path, float(ep[f"videos/{video_key}/from_timestamp"]), n, fps)
        first = {
            c: rows[c][0].as_py() for c in ("scenario", "pattern", "distance", "outcome") if c in columns
        }
        meta = EpisodeMeta(
            scenario=first.get("scenario") or defaults.scenario,
            pattern=first.get("pattern") or defaults.pattern,
            distance=first.get("distance") or defaults.distance,
            instruction=tasks.get(rows["task_index"][0].as_py()),
            robot=info.get("robot_type"),
            camera=f"lerobot:{images.shape[2]}x{images.shape[1]}",
        )
        missing = [k for k in ("scenario", "pattern", "distance") if getattr(meta, k) is None]
        if missing:
            raise RecorderError(
                f"{src}: episode {ep['episode_index']} has no {', '.join(missing)}; pass "
                + " ".join(f"--{k} ..." for k in missing)
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
        with EpisodeWriter(
            out, meta, extra_attrs={"lerobot_source": f"{src.name}#{ep['episode_index']}"}
        ) as writer:
            for image, action, event, t in zip(images, actions, events, times, strict=True):
                writer.append(image, action, event, timestamp=float(t))
            written.append(
                writer.finish(outcome=outcome if outcome in ("success", "failure") else "unspecified")
            )
        if on_episode is not None:
            on_episode(done, len(episodes))
    return written


def decode_episode(video: Path, from_ts: float, frames: int, fps: int) -> np.ndarray:
    """The `frames` RGB frames (N, H, W, 3) uint8 of the episode that starts at `from_ts` s in `video`:
    frame k is the one shown at from_ts + k / fps (LeRobot's own rule, `timestamp = frame_index / fps`)."""
    import av

    found: dict[int, np.ndarray] = {}
    with av.open(str(video)) as container:
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


def _info(src: Path) -> dict[str, Any]:
    path = src / layout.INFO_PATH
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecorderError(
            f"{src}: no {layout.INFO_PATH}; pass the folder of a LeRobot v3 dataset"
        ) from None
    except (OSError, ValueError) as exc:
        raise RecorderError(f"{path}: unreadable ({exc})") from None
    if not str(info.get("codebase_version", "")).startswith("v3"):
        raise RecorderError(
            f"{path}: codebase_version {info.get('codebase_version')!r}; only LeRobot v3 datasets are read"
        )
    return dict(info)


def _keys(src: Path, info: dict[str, Any]) -> tuple[str, str]:
    features = info.get("features", {})
    videos = [k for k, f in features.items() if f.get("dtype") == "video"]
    if len(videos) != 1:
        raise RecorderError(
            f"{src}: {len(videos)} video camera(s) ({', '.join(videos) or 'none'}); mvla reads datasets with one"
        )
    action = features.get(layout.ACTION_KEY)
    if action is None or list(action.get("shape", [])) not in ([2], [3]):
        raise RecorderError(
            f"{src}: feature `action` must be a 2- or 3-dimensional base action, got {action}"
        )
    return videos[0], layout.ACTION_KEY


def _episode_rows(src: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    files = sorted((src / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not files:
        raise RecorderError(f"{src}: no meta/episodes/chunk-*/file-*.parquet; not a LeRobot v3 dataset")
    rows: list[dict[str, Any]] = []
    for path in files:
        table = pq.read_table(
            path, columns=[c for c in pq.read_schema(path).names if not c.startswith("stats/")]
        )
        rows.extend(table.to_pylist())
    return sorted(rows, key=lambda r: r["episode_index"])
