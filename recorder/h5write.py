"""Turns a journal into a complete, fsynced V4 episode file under its hidden build name.

The file is the collector's V4 layout (BGR `images` gzip, `actions`, vlen UTF-8 `action_event_types`,
its root attributes) plus the additions of DATA_FORMAT.md, the `intervention` group of an episode a policy
drove (`recorder.intervention`), and any extra root attributes the caller gave the writer. Each image chunk is one channel of one frame, and its bytes come pre-compressed from
the journal through `write_direct_chunk`, so nothing is compressed here. h5py builds the file under
the hidden name and it is fsynced here; the caller then publishes it with
`configs.files.publish_file` (`os.replace`, then the folder fsynced): a final name never carries a
partial file. This module never deletes a journal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import h5py
import numpy as np

from configs.files import fsync_path
from recorder import intervention
from recorder.episode import ACTION_CHUNK_SIZE
from recorder.errors import RecorderError
from recorder.journal import AttrValue, JournalFrame, JournalHeader, read_planes

SCHEMA_VERSION = "4.1"  # V4 layout + the mvla additions, revision 1
INSTRUCTION_DTYPE = "S256"


# Root attributes `write_episode_file` writes itself; a caller's extra attributes must not reuse them.
STANDARD_ATTRS = frozenset(
    {
        "episode_name",
        "total_duration",
        "num_frames",
        "action_chunk_size",
        "obstacle_layout_type",
        "time_period",
        "collection_datetime",
        "collection_hour",
        "collection_minute",
        "scenario",
        "pattern",
        "distance",
        "schema_version",
        "color_order",
        "collector",
        "recovered",
        "outcome",
        "robot",
        "camera",
        "intervention",
        "takeovers",
        "policy_steps",
        "operator_steps",
    }
)


def check_extra_attrs(extra: Mapping[str, object]) -> dict[str, AttrValue]:
    """A caller's extra root attributes as a plain dict (it travels in the journal header as JSON);
    a `RecorderError` for a standard name or a value that is not a str, bool, int or finite float."""
    out: dict[str, AttrValue] = {}
    for key, value in extra.items():
        if not isinstance(key, str) or not key or key in STANDARD_ATTRS:
            raise RecorderError(
                f"extra root attribute {key!r}: use a non-empty name that is not a standard one"
            )
        if (
            isinstance(value, (str, bool))
            or (isinstance(value, int) and -(2**63) <= value < 2**63)
            or isinstance(value, float)
            and np.isfinite(value)
        ):
            out[key] = value
        else:
            raise RecorderError(
                f"extra root attribute {key!r}: {value!r} is not a str, bool, int or finite float"
            )
    return out


def time_period(hour: int) -> str:
    """The older collector's buckets of the save-time hour."""
    return ("dawn", "morning", "evening", "night")[hour // 6]


def write_episode_file(
    path: Path,
    header: JournalHeader,
    frames: Sequence[JournalFrame],
    journal: BinaryIO,
    *,
    saved_at: datetime,
    total_duration: float,
    recovered: bool,
    outcome: str | None = None,
) -> None:
    """Write `frames` (read from `journal`) as a V4 file at `path`, then fsync it. `outcome` defaults to
    the journal header's ("unspecified" for a recording that was never saved)."""
    n = len(frames)
    height, width = frames[0].height, frames[0].width
    with h5py.File(path, "w", libver="earliest") as f:
        images = f.create_dataset(
            "images",
            shape=(n, height, width, 3),
            dtype=np.uint8,
            chunks=(1, height, width, 1),
            compression="gzip",
            compression_opts=header.compression_level,
        )
        for i, frame in enumerate(frames):
            for channel, plane in enumerate(read_planes(journal, frame)):
                images.id.write_direct_chunk((i, 0, 0, channel), plane)
        f.create_dataset(
            "actions", data=np.array([fr.action for fr in frames], dtype=np.float32), compression="gzip"
        )
        f.create_dataset(
            "action_event_types",
            data=[fr.event_type for fr in frames],
            dtype=h5py.string_dtype("utf-8"),
            compression="gzip",
        )
        f.create_dataset("timestamps", data=np.array([fr.timestamp for fr in frames], dtype=np.float64))
        f.create_dataset(
            "language_instruction",
            data=np.array([header.instruction.encode("utf-8")], dtype=INSTRUCTION_DTYPE),
        )
        added = intervention.write_group(
            f,
            [fr.annotation for fr in frames],
            [fr.event_type for fr in frames],
            [fr.timestamp for fr in frames],
        )
        attrs: dict[str, object] = {
            **added,
            "episode_name": header.name,
            "total_duration": float(total_duration),
            "num_frames": n,
            "action_chunk_size": ACTION_CHUNK_SIZE,
            "obstacle_layout_type": header.layout,
            "time_period": time_period(saved_at.hour),
            "collection_datetime": saved_at.isoformat(),
            "collection_hour": saved_at.hour,
            "collection_minute": saved_at.minute,
            "scenario": header.scenario,
            "pattern": header.pattern,
            "distance": header.distance,
            "schema_version": SCHEMA_VERSION,
            "color_order": "bgr",
            "collector": header.collector,
            "recovered": bool(recovered),
            "outcome": outcome or header.outcome,
        }
        # Unknown robot or camera are left out rather than written as a made-up value.
        attrs.update({k: v for k, v in (("robot", header.robot), ("camera", header.camera)) if v is not None})
        # The standard attributes always win over the caller's.
        for key, value in {**header.extra_attrs, **attrs}.items():
            f.attrs[key] = value
    fsync_path(path)
