"""Extra root attributes through the recorder (`EpisodeWriter(extra_attrs=...)`), as the sim uses them
to mark each episode with the expert's verdict: written on finish, kept on salvage after a crash, and
refused up front (no file left behind) when they would clash with a standard attribute."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from recorder import h5write, journal
from recorder.check import check
from recorder.episode import EpisodeMeta
from recorder.reader import read_episode
from recorder.recover import find_leftovers, salvage
from recorder.writer import EpisodeWriter, RecorderError

RNG = np.random.default_rng(0)
META = EpisodeMeta(scenario="1box_left", pattern="core", distance="far", robot="sim", camera="sim:32x24")
EXTRA = {"sim_success": False, "sim_failure": "hit box0 at t=1.20 s", "sim_seed": 7, "sim_noise": 0.2}


def _record(folder: Path, extra_attrs: dict | None) -> Path:
    with EpisodeWriter(folder, META, extra_attrs=extra_attrs) as writer:
        for i in range(3):
            image = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            action = np.float32([1.15, 0, 0]) if i else np.zeros(3, np.float32)
            writer.append(image, action, "start_action" if i else "episode_start", timestamp=0.55 * i)
        return writer.finish()


def test_extra_attributes_are_written_and_read_back(tmp_path: Path) -> None:
    path = _record(tmp_path, EXTRA)
    assert check(path) == []
    attrs = read_episode(path).meta.attrs
    assert {k: attrs[k] for k in EXTRA} == EXTRA


def test_standard_attributes_are_all_known_to_the_clash_check(tmp_path: Path) -> None:
    """A new standard attribute must join `STANDARD_ATTRS`, or an extra one could silently lose to it."""
    with h5py.File(_record(tmp_path, None), "r") as f:
        assert set(f.attrs) <= h5write.STANDARD_ATTRS


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"scenario": "2box_left"}, "'scenario': use a non-empty name that is not a standard one"),
        ({"sim_noise": float("nan")}, "'sim_noise': nan is not a str, bool, int or finite float"),
        ({"sim_pose": [0.1, 0.2]}, "'sim_pose': [0.1, 0.2] is not a str"),
    ],
)
def test_bad_extra_attributes_are_refused_before_any_file_exists(
    tmp_path: Path, extra: dict, message: str
) -> None:
    with pytest.raises(RecorderError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EpisodeWriter(tmp_path, META, extra_attrs=extra)
    assert list(tmp_path.iterdir()) == []


def test_a_salvaged_journal_keeps_the_extra_attributes(tmp_path: Path) -> None:
    name = "episode_20251112_131153_1box_hori_left_core_far"
    header = {
        "name": name,
        "scenario": "1box_left",
        "pattern": "core",
        "distance": "far",
        "layout": "hori",
        "instruction": "Navigate around the obstacle on the left side and reach the cup",
        "robot": "sim",
        "camera": "sim:32x24",
        "collector": "mvla test",
        "started": "2025-11-12T13:11:53",
        "compression_level": 1,
        "color_order": "bgr",
        "extra_attrs": EXTRA,
    }
    with open(journal.journal_path(tmp_path, name), "wb") as f:
        f.write(journal.header_bytes(header))
        for i in range(2):
            image = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            planes = journal.compress_frame(image, 1)
            action = np.float32([0, 1.15, 0]) if i else np.zeros(3, np.float32)
            event = "start_action" if i else "episode_start"
            f.write(b"".join(journal.frame_parts(planes, 0.55 * i, action, event, 24, 32)))
    (leftover,) = find_leftovers(tmp_path)
    path = salvage(leftover, now=lambda: datetime(2025, 11, 12, 13, 20))
    assert path is not None and check(path) == []
    meta = read_episode(path).meta
    assert meta.recovered
    assert {k: meta.attrs[k] for k in EXTRA} == EXTRA
