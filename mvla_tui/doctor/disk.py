"""The disk check: how many more episodes fit in the data folder at this robot's frame size?

An episode is `Catalogue.episode_frames` frames (18) of the robot config's camera size, stored as the
recorder stores them: B, G and R planes deflated at level 1 (`recorder.journal.compress_frame`). The
compressed size is measured on a frame of this camera when the camera check got one (not the fake's
synthetic test card, which compresses far better than any camera image), else assumed to be
`ASSUMED_RATIO` of the raw size (deflate keeps most of a noisy camera image); the raw size is the worst
case (the recorder stores frames uncompressed while the CPU is too busy to compress them). One episode
more is kept free, because finishing an episode writes the HDF5 file beside its journal.
It fails below `FAIL_BELOW` episodes and warns below `WARN_BELOW`. Nothing here writes to the folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from mvla_tui.doctor.checks import Check, fail, ok, warn

ASSUMED_RATIO = 0.8  # of the raw size, when no frame of this camera was seen
FAIL_BELOW = 10
WARN_BELOW = 100
LEVEL = 1  # the recorder's default deflate level


def compressed_ratio(image: np.ndarray) -> float:
    """Stored bytes / raw bytes of one RGB frame, as the recorder compresses it."""
    from recorder.journal import compress_frame

    return sum(len(p) for p in compress_frame(image, LEVEL)) / image.nbytes


def disk_check(
    folder: Path | None,
    size: tuple[int, int],
    frames: int,
    sample: np.ndarray | None = None,
    sample_synthetic: bool = False,
    cwd: Path | None = None,
) -> Check:
    """The `disk` line for recording into `folder` (None: the current folder) at `size` (width, height)."""
    given = folder is not None
    folder = Path(folder if given else (cwd or Path.cwd())).expanduser()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    where = str(folder) if given else f"{folder} (no --data: the current folder)"
    if existing != folder:
        where += f", to be created in {existing}"
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return fail(
            "disk",
            f"{where}: not a writable folder",
            "give --data a folder this user can write (in a container: mount the dataset volume)",
        )
    free = shutil.disk_usage(existing).free
    width, height = size
    raw = frames * width * height * 3
    if sample is not None and not sample_synthetic:
        ratio = compressed_ratio(sample)
        how = f"{ratio:.0%} of raw, measured on a frame of this camera"
    else:
        ratio = ASSUMED_RATIO
        why = (
            "a synthetic test card compresses unlike a camera image"
            if sample_synthetic
            else "no camera frame"
        )
        how = f"{ratio:.0%} of raw assumed: {why}"
    episode = raw * ratio
    usable = max(0.0, free - episode)  # finishing an episode needs its size twice for a moment
    count, worst = int(usable // episode), int(max(0.0, free - raw) // raw)
    detail = (
        f"{_size(free)} free in {where}: about {count} episodes of {frames} frames at {width}x{height} "
        f"({_size(episode)} each, {how}; {worst} if stored uncompressed)"
    )
    fix = "free space, or record into a bigger disk with --data (copy episodes off with rsync first)"
    if count < FAIL_BELOW:
        return fail("disk", detail, fix)
    if count < WARN_BELOW:
        return warn("disk", detail, fix)
    return ok("disk", detail)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    raise AssertionError("unreachable")
