"""The LeRobot v3 dataset layout as mvla writes and reads it: paths, info.json's features, the video codec
choice and `meta/tasks.parquet`. Learnt from LeRobot 0.4.4's own format code (`datasets/utils.py`,
`lerobot_dataset.py`, `video_utils.py`); no line of it is copied and lerobot is never imported.

A dataset folder holds `meta/info.json`, `meta/stats.json`, `meta/tasks.parquet`,
`meta/episodes/chunk-XXX/file-XXX.parquet` (one row per episode), `data/chunk-XXX/file-XXX.parquet`
(one row per frame) and `videos/<key>/chunk-XXX/file-XXX.mp4` (many episodes back to back per camera).
This module only describes the layout; writing (`lerobot_export`) and reading (`lerobot_import`) live
beside it. pyarrow and PyAV (extra `lerobot`) are imported only inside the functions that need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recorder.errors import RecorderError

CODEBASE_VERSION = "v3.0"
ROBOT_TYPE = "mvla_omni_base"  # the omni-wheel base the episodes were recorded on (or its simulation)
IMAGE_KEY = "observation.images.front"
ACTION_KEY = "action"
# Units are part of the names: LeRobot keeps no other place for them.
ACTION_NAMES = ["linear_x (m/s)", "linear_y (m/s)", "angular_z (rad/s)"]
# mvla records one frame per key press (about 0.56 s apart), so a nominal 2 frames/s is the default.
DEFAULT_FPS = 2
CHUNKS_SIZE = 1000  # files per chunk folder
DATA_FILE_MB = 100  # a data file is closed at about this size
VIDEO_FILE_MB = 200  # a video file is closed at about this size
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"

# Frame columns every LeRobot v3 dataset has, then mvla's own (strings, and the recorded time).
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
STRING_COLUMNS = ("event_type", "scenario", "pattern", "distance", "outcome")
RECORDED_TIME = "recorded_timestamp"  # s since the episode start as recorded; -1 where the file has none

# Software encoders only: a Jetson has no NVENC, and a dataset must decode anywhere. Names the user may
# give, each with the FFmpeg encoders that implement it, in order of preference.
SOFTWARE_CODECS: dict[str, tuple[str, ...]] = {
    "h264": ("libx264", "libopenh264"),
    "av1": ("libsvtav1", "libaom-av1"),
}
for _family, _encoders in list(SOFTWARE_CODECS.items()):
    for _encoder in _encoders:
        SOFTWARE_CODECS[_encoder] = (_encoder,)
DEFAULT_CODEC = "h264"


def features(height: int, width: int, fps: int, codec: str) -> dict[str, dict[str, Any]]:
    """info.json's `features` of an mvla export of frames (height, width) encoded with `codec`."""
    video = {
        "dtype": "video",
        "shape": [height, width, 3],
        "names": ["height", "width", "channels"],
        "info": {
            "video.height": height,
            "video.width": width,
            "video.codec": codec,
            "video.pix_fmt": "yuv420p",
            "video.is_depth_map": False,
            "video.fps": fps,
            "video.channels": 3,
            "has_audio": False,
        },
    }
    out: dict[str, dict[str, Any]] = {
        IMAGE_KEY: video,
        ACTION_KEY: {"dtype": "float32", "shape": [3], "names": list(ACTION_NAMES)},
        **{k: dict(v) for k, v in DEFAULT_FEATURES.items()},
        RECORDED_TIME: {"dtype": "float64", "shape": [1], "names": None},
    }
    for key in STRING_COLUMNS:
        out[key] = {"dtype": "string", "shape": [1], "names": None}
    return out


def pick_encoder(codec: str) -> str:
    """The FFmpeg encoder of PyAV's build for a codec name of SOFTWARE_CODECS; a hardware encoder or one
    this build lacks is a `RecorderError` that says what to pass instead."""
    import av

    wanted = SOFTWARE_CODECS.get(codec.lower())
    if wanted is None:
        raise RecorderError(
            f"--video-codec {codec}: not a software encoder mvla uses (hardware encoders such as NVENC "
            f"are refused: a Jetson lacks them); use one of {', '.join(SOFTWARE_CODECS)}"
        )
    available = av.codecs_available
    for name in wanted:
        if name in available:
            return name
    raise RecorderError(
        f"--video-codec {codec}: this PyAV build has none of {', '.join(wanted)}; "
        f"try --video-codec {'av1' if codec.startswith('h') or codec.startswith('libx') else 'h264'}"
    )


def write_tasks(path: Path, tasks: list[str]) -> None:
    """`meta/tasks.parquet` as LeRobot's pandas writes it: the task text is the (unnamed) index and
    `task_index` its number, so `pandas.read_parquet` gives LeRobot the frame it expects."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    table = pa.table(
        {
            "task_index": pa.array(range(len(tasks)), pa.int64()),
            "__index_level_0__": pa.array(tasks, pa.string()),
        }
    ).replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    pq.write_table(table, path)


def read_tasks(path: Path) -> dict[int, str]:
    """task_index -> task text of a `meta/tasks.parquet`, whichever column holds the text (the pandas
    index of LeRobot's writer, or a `task` column)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    text_column = "task" if "task" in table.column_names else None
    meta = (table.schema.metadata or {}).get(b"pandas")
    if text_column is None and meta:
        index_columns = [c for c in json.loads(meta).get("index_columns", []) if isinstance(c, str)]
        text_column = index_columns[0] if index_columns else None
    if text_column is None or "task_index" not in table.column_names:
        raise RecorderError(f"{path}: no task text and task_index columns; not a LeRobot v3 tasks file")
    return dict(zip(table["task_index"].to_pylist(), table[text_column].to_pylist(), strict=True))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False), encoding="utf-8")
