"""LeRobot v3 datasets shaped like public ones, built here with pyarrow and PyAV alone (never with mvla's
exporter, so the importer is tested against a writer that is not its own mirror): any camera key, no
mvla columns, a robot state beside the action, a `list<float>` action as pandas writes it, episodes back
to back in one mp4 per camera, tasks in `meta/tasks.parquet` with a `task` index column."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
TASKS = ("pick up the red cube", "push the cube to the left")


@dataclass
class PublicDataset:
    root: Path
    actions: list[np.ndarray]  # per episode (N, D) float32, as stored
    frames: list[np.ndarray]  # per episode (N, H, W, 3) uint8 of the first camera (the others: 255 - it)
    tasks: list[str]  # per episode


def frames_of(n: int, seed: int, h: int, w: int) -> np.ndarray:
    """Smooth frames a video codec keeps (a gradient and a moving block)."""
    y, x = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        out[i] = np.stack([x * 2 + i * 7, y * 3 + seed * 30, (x + y) + 40], axis=-1) % 180 + 30
        out[i, 8 + i : 18 + i, 10 + seed * 5 : 22 + seed * 5] = (220, 50, 60)
    return out


def public_dataset(
    root: Path,
    *,
    cameras: tuple[str, ...] = ("observation.images.top",),
    action_dim: int = 2,
    lengths: tuple[int, ...] = (5, 4),
    fps: int = 10,
    size: tuple[int, int] = (48, 64),
    data_file_per_episode: bool = False,
    codec: str = "libx264",
) -> PublicDataset:
    """`lengths` episodes of frames `size` (h, w) at `fps`; `codec` libx264, or libsvtav1 (LeRobot's
    default); `data_file_per_episode`: each episode's rows in its own data file, as a large dataset has."""
    h, w = size
    rng = np.random.default_rng(7)
    actions = [rng.uniform(-1, 1, (n, action_dim)).astype(np.float32) for n in lengths]
    frames = [frames_of(n, seed, h, w) for seed, n in enumerate(lengths)]
    tasks = [TASKS[i % len(TASKS)] for i in range(len(lengths))]
    starts = np.cumsum((0, *lengths))

    def write_data(path: Path, episodes: list[int]) -> None:
        cols: dict[str, list] = {k: [] for k in ("action", "observation.state", "timestamp")}
        ints: dict[str, list[int]] = {k: [] for k in ("frame_index", "episode_index", "index", "task_index")}
        for e in episodes:
            for k in range(lengths[e]):
                cols["action"].append(actions[e][k].tolist())
                cols["observation.state"].append([0.1 * k] * 6)
                cols["timestamp"].append(k / fps)
                ints["frame_index"].append(k)
                ints["episode_index"].append(e)
                ints["index"].append(int(starts[e]) + k)
                ints["task_index"].append(TASKS.index(tasks[e]))
        table = pa.table(
            {
                "action": pa.array(cols["action"], pa.list_(pa.float32())),
                "observation.state": pa.array(cols["observation.state"], pa.list_(pa.float32())),
                "timestamp": pa.array(cols["timestamp"], pa.float32()),
                **{k: pa.array(v, pa.int64()) for k, v in ints.items()},
            }
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)

    if data_file_per_episode:
        for e in range(len(lengths)):
            write_data(root / DATA.format(chunk_index=0, file_index=e), [e])
    else:
        write_data(root / DATA.format(chunk_index=0, file_index=0), list(range(len(lengths))))

    for c, key in enumerate(cameras):
        path = root / VIDEO.format(video_key=key, chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream(codec, rate=fps)
            stream.height, stream.width, stream.pix_fmt = h, w, "yuv420p"
            stream.options = {"g": "2", "crf": "20"} | ({"preset": "12"} if codec == "libsvtav1" else {})
            for k, image in enumerate(np.concatenate(frames)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(255 - image if c else image), "rgb24")
                frame.pts, frame.time_base = k, Fraction(1, fps)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)

    rows = []
    for e, n in enumerate(lengths):
        row: dict[str, object] = {
            "episode_index": e,
            "tasks": [tasks[e]],
            "length": n,
            "data/chunk_index": 0,
            "data/file_index": e if data_file_per_episode else 0,
            "dataset_from_index": int(starts[e]),
            "dataset_to_index": int(starts[e + 1]),
        }
        for key in cameras:
            row[f"videos/{key}/chunk_index"] = 0
            row[f"videos/{key}/file_index"] = 0
            row[f"videos/{key}/from_timestamp"] = float(starts[e]) / fps
            row[f"videos/{key}/to_timestamp"] = float(starts[e + 1]) / fps
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
        row["stats/action/mean"] = actions[e].mean(axis=0).astype(np.float64).tolist()
        rows.append(row)
    episodes = root / "meta/episodes/chunk-000/file-000.parquet"
    episodes.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), episodes)

    pandas_meta = {"index_columns": ["task"], "columns": [], "pandas_version": "2.2.3"}
    table = pa.table(
        {"task_index": pa.array(range(len(TASKS)), pa.int64()), "task": pa.array(TASKS, pa.string())}
    )
    pq.write_table(
        table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta)}), root / "meta/tasks.parquet"
    )

    video_feature = {
        "dtype": "video",
        "shape": [h, w, 3],
        "names": ["height", "width", "channels"],
        "info": {
            "video.fps": fps,
            "video.codec": {"libx264": "h264", "libsvtav1": "av1"}[codec],
            "video.pix_fmt": "yuv420p",
        },
    }
    features: dict[str, object] = {
        "action": {"dtype": "float32", "shape": [action_dim], "names": [f"a{i}" for i in range(action_dim)]},
        "observation.state": {"dtype": "float32", "shape": [6], "names": [f"joint{i}" for i in range(6)]},
        **{key: video_feature for key in cameras},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        **{
            k: {"dtype": "int64", "shape": [1], "names": None}
            for k in ("frame_index", "episode_index", "index", "task_index")
        },
    }
    info = {
        "codebase_version": "v3.0",
        "robot_type": "koch",
        "total_episodes": len(lengths),
        "total_frames": int(starts[-1]),
        "total_tasks": len(TASKS),
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 500,
        "fps": fps,
        "splits": {"train": f"0:{len(lengths)}"},
        "data_path": DATA,
        "video_path": VIDEO,
        "features": features,
    }
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))
    return PublicDataset(root, actions, frames, tasks)
