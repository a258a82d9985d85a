"""Every legacy layout reads back as the same in-memory episode; every damage class gets its own
name from `check` and a one-line `RecorderError` from the reader."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from recorder_builders import INSTRUCTION, key_actions, record, v4_file, v5_file

from recorder.check import PROBLEM_KINDS, check
from recorder.errors import RecorderError
from recorder.reader import read_episode


def test_v4_earliest_generation(tmp_path: Path) -> None:
    n = 3
    path, rgb = v4_file(
        tmp_path, "episode_20250805_101010", n, events=["stop_action"] * n, actions=np.zeros((n, 3))
    )
    episode = read_episode(path)
    np.testing.assert_array_equal(episode.images, rgb)  # BGR on disk, RGB in memory
    assert episode.event_types == ["stop_action"] * n
    assert episode.actions.dtype == np.float32 and episode.actions.shape == (n, 3)
    assert (episode.meta.scenario, episode.meta.pattern, episode.timestamps) == (None, None, None)
    assert [p.kind for p in check(path)] == ["all_zero_actions"]


@pytest.mark.parametrize(
    ("name", "scenario", "pattern", "distance"),
    [
        ("episode_20250808_123136_1box_vert_left", "1box_vert_left", None, None),
        ("episode_20251030_132725_1box_vert_right_exception_far", "1box_vert_right", "variant", "far"),
        ("episode_20251112_131153_1box_hori_left_core_medium", "1box_left", "core", "medium"),
    ],
)
def test_v4_name_generations(tmp_path: Path, name: str, scenario, pattern, distance) -> None:
    path, rgb = v4_file(tmp_path, name, instruction=INSTRUCTION, extra_attrs={"time_period": "morning"})
    episode = read_episode(path)
    np.testing.assert_array_equal(episode.images, rgb)
    np.testing.assert_array_equal(episode.actions, key_actions(4))
    assert episode.event_types[0] == "episode_start" and all(isinstance(e, str) for e in episode.event_types)
    assert (episode.meta.scenario, episode.meta.pattern, episode.meta.distance) == (
        scenario,
        pattern,
        distance,
    )
    assert episode.meta.instruction == INSTRUCTION
    assert episode.meta.attrs["time_period"] == "morning" and episode.meta.collector is None
    assert check(path) == []


@pytest.mark.parametrize("jpeg", [False, True], ids=["v5-raw", "v5-jpeg"])
def test_v5_layouts(tmp_path: Path, jpeg: bool) -> None:
    path, rgb = v5_file(tmp_path, "v5_episode_0001", jpeg=jpeg)
    episode = read_episode(path)
    assert episode.layout == ("v5-jpeg" if jpeg else "v5-raw")
    assert episode.images.shape == rgb.shape and episode.images.dtype == np.uint8
    if jpeg:  # lossy, but the colour order must be right: far closer to RGB than to BGR
        error = np.abs(episode.images.astype(int) - rgb).mean()
        assert error < np.abs(episode.images.astype(int) - rgb[..., ::-1]).mean() / 3
    else:
        np.testing.assert_array_equal(episode.images, rgb)
    assert episode.event_types == ["episode_start", "start_action", "start_action"]
    assert (episode.meta.scenario, episode.meta.pattern, episode.meta.distance) == (
        "2box_right",
        "variant",
        "far",
    )
    assert episode.meta.instruction == INSTRUCTION and episode.meta.attrs["end_pos"] == "cup"
    assert check(path) == []


def _truncated(folder: Path) -> Path:
    path = record(folder, 6)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _edit(folder: Path, edit) -> Path:
    path, _ = v4_file(folder, "episode_20251112_131153_1box_hori_left_core_medium")
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _replace(name, data, **kwargs):
    def edit(f):
        del f[name]
        f.create_dataset(name, data=data, **kwargs)

    return edit


DAMAGE = {
    "lfs_pointer": lambda d: _write(
        d, b"version https://git-lfs.github.com/spec/v1\noid sha256:ab12\nsize 123\n"
    ),
    "not_hdf5": lambda d: _write(d, os.urandom(4096)),
    "truncated": _truncated,
    "missing_dataset": lambda d: _edit(d, lambda f: f.__delitem__("actions")),
    "length_mismatch": lambda d: _edit(d, _replace("actions", key_actions(3))),
    "bad_shape": lambda d: _edit(d, _replace("actions", np.zeros((4, 2), np.float32) + 1)),
    "too_short": lambda d: v4_file(
        d, "episode_20251112_131153_1box_hori_left_core_medium", 1, actions=np.ones((1, 3))
    )[0],
    "all_zero_actions": lambda d: _edit(d, _replace("actions", np.zeros((4, 3), np.float32))),
    "non_finite": lambda d: _edit(d, _replace("actions", np.full((4, 3), np.nan, np.float32))),
    "unknown_event_type": lambda d: _edit(
        d, _replace("action_event_types", ["episode_start", "jump", "x", "x"], dtype=h5py.string_dtype())
    ),
}


def _write(folder: Path, data: bytes) -> Path:
    path = folder / "episode_20251112_131153_1box_hori_left_core_medium.h5"
    path.write_bytes(data)
    return path


def test_every_damage_class_is_listed() -> None:
    assert set(DAMAGE) == set(PROBLEM_KINDS)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damage_class_is_named(tmp_path: Path, kind: str) -> None:
    path = DAMAGE[kind](tmp_path)
    problems = check(path)
    assert kind in [p.kind for p in problems], problems
    assert all("\n" not in str(p) for p in problems)
    if kind in ("lfs_pointer", "not_hdf5", "truncated", "missing_dataset", "length_mismatch"):
        with pytest.raises(RecorderError) as err:
            read_episode(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
