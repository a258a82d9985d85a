"""The in-memory episode: frames, actions, events and metadata, whatever file layout they came from.

Images are RGB uint8 (N, H, W, 3); actions float32 (N, 3) `[linear_x m/s, linear_y m/s, angular_z rad/s]`
in the robot frame (REP 103), 1.15 for a full-speed key press. Colour order is converted only by the
reader and writer, at the file boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recorder.intervention import Intervention

# How an episode ended, as the operator (or the simulator) judged it when saving; a recording that was
# never saved (a crash, a session ended mid-episode) is salvaged as "unspecified".
OUTCOMES = ("success", "failure", "unspecified")
ACTION_CHUNK_SIZE = 8  # root attribute of every V4 file; the window of the older training code


@dataclass
class EpisodeMeta:
    """What an episode is about. Anything unknown (old file names) is None."""

    scenario: str | None = None  # current id ("1box_left") or an older one ("1box_vert_left")
    pattern: str | None = None  # "core" | "variant"
    distance: str | None = None  # "close" | "medium" | "far"
    instruction: str | None = None  # English command the episode was recorded with
    robot: str | None = None  # "ros2", "sim", "fake"
    camera: str | None = None  # e.g. "csi:1280x720", "sim:1280x720"
    collector: str | None = None  # "mvla 0.1.0", or None for the older collector
    recovered: bool = False  # salvaged from a temporary file left by a crash
    outcome: str | None = None  # one of OUTCOMES; None in files of the older collector
    attrs: dict[str, Any] = field(default_factory=dict)  # every other root attribute, as read


@dataclass
class Episode:
    path: Path
    layout: str  # "v4", "v5-raw" or "v5-jpeg"
    name: str
    images: np.ndarray  # (N, H, W, 3) uint8 RGB
    actions: np.ndarray  # (N, 3) float32
    event_types: list[str]  # N of catalogue.EVENT_TYPES (V5 files have none: all "start_action" but frame 0)
    meta: EpisodeMeta
    timestamps: np.ndarray | None = None  # (N,) float64 s since episode start, when the file has them
    intervention: Intervention | None = None  # who drove each frame (episodes a policy drove)

    def __len__(self) -> int:
        return len(self.actions)
