"""Every legacy layout reads back as the same in-memory episode; every damage class gets its own
name from `check` and a one-line `RecorderError` from the reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from recorder_builders import INSTRUCTION, intervention_record, key_actions, record, v4_file, v5_file

from recorder.check import PROBLEM_KINDS, check
from recorder.errors import EpisodeFileError, RecorderError
from recorder.reader import V5_IMAGES, read_episode


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


def _placeholder(f) -> None:
    images = f["images"][()]
    images[2] = 128  # a flat grey stand-in where the camera gave nothing
    _replace("images", images, compression="gzip")(f)


def _undecodable_jpeg(folder: Path) -> Path:
    path, _ = v5_file(folder, "v5_episode_0002", jpeg=True)
    with h5py.File(path, "r+") as f:
        f[V5_IMAGES][1] = np.frombuffer(b"\xff\xd8 not really a jpeg", np.uint8)
    return path


def _bad_intervention(folder: Path) -> Path:
    path = intervention_record(folder)
    with h5py.File(path, "r+") as f:
        sources = f["intervention/source"]
        sources[1] = "robot"  # neither policy nor operator
    return path


DAMAGE = {
    "bad_intervention": _bad_intervention,
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
    "bad_attribute": lambda d: _edit(d, lambda f: f.attrs.__setitem__("scenario", np.array([1, 2]))),
    "undecodable_frame": _undecodable_jpeg,
    "placeholder_frames": lambda d: _edit(d, _placeholder),
    "unknown_event_type": lambda d: _edit(
        d, _replace("action_event_types", ["episode_start", "jump", "x", "x"], dtype=h5py.string_dtype())
    ),
}


def _write(folder: Path, data: bytes) -> Path:
    path = folder / "episode_20251112_131153_1box_hori_left_core_medium.h5"
    path.write_bytes(data)
    return path


def test_every_damage_class_is_listed() -> None:
    # `unreadable` is what the child-process reader reports when reading crashes or hangs the HDF5
    # library: no in-process check produces it (tests/recorder/test_recorder_isolated.py).
    assert set(DAMAGE) == set(PROBLEM_KINDS) - {"unreadable"}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damage_class_is_named(tmp_path: Path, kind: str) -> None:
    path = DAMAGE[kind](tmp_path)
    problems = check(path)
    assert kind in [p.kind for p in problems], problems
    assert all("\n" not in str(p) for p in problems)
    if kind in READABLE_DAMAGE:  # the data reads; check names it and training skips the file
        assert len(read_episode(path)) == len(h5py.File(path, "r")["actions"])
    else:
        with pytest.raises(EpisodeFileError) as err:
            read_episode(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value) and err.value.kind == kind


READABLE_DAMAGE = ("too_short", "all_zero_actions", "non_finite", "placeholder_frames")


def _set_attr(key, value):
    return lambda f: f.attrs.__setitem__(key, value)


# (edit of a sound V4 file, the kind check reports, what the reader's one-line error must name)
MALFORMED = {
    "images_group": (
        lambda f: (f.__delitem__("images"), f.create_group("images")),
        "missing_dataset",
        "`images`",
    ),
    "images_scalar": (_replace("images", np.uint8(3)), "bad_shape", "`images`"),
    "integer_events": (_replace("action_event_types", np.arange(4)), "bad_shape", "`action_event_types`"),
    "events_n_by_1": (
        _replace("action_event_types", [["episode_start"]] * 4, dtype=h5py.string_dtype()),
        "bad_shape",
        "`action_event_types`",
    ),
    "unknown_events": (
        _replace("action_event_types", ["episode_start", "jump", "x", "x"], dtype=h5py.string_dtype()),
        "unknown_event_type",
        "'jump'",
    ),
    "short_timestamps": (_replace("timestamps", np.arange(3.0)), "length_mismatch", "timestamps has 3"),
    "integer_instruction": (
        _replace("language_instruction", np.array([1])),
        "bad_shape",
        "`language_instruction`",
    ),
    "int32_actions": (_replace("actions", np.ones((4, 3), np.int32)), "bad_shape", "`actions`"),
    "array_scenario": (
        _set_attr("scenario", np.array(["1box_left", "x"], dtype="S9")),
        "bad_attribute",
        "`scenario`",
    ),
    "integer_pattern": (_set_attr("pattern", 3), "bad_attribute", "`pattern`"),
    "float_distance": (_set_attr("distance", 1.5), "bad_attribute", "`distance`"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_refused_by_the_reader_and_reported_by_check(tmp_path: Path, case: str) -> None:
    edit, kind, named = MALFORMED[case]
    path, _ = v4_file(tmp_path, "episode_20251112_131153_1box_hori_left_core_medium", instruction=INSTRUCTION)
    with h5py.File(path, "r+") as f:
        f.create_dataset("timestamps", data=np.arange(4.0))
        edit(f)
    with pytest.raises(EpisodeFileError) as err:
        read_episode(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and named in message and "\n" not in message
    assert err.value.kind == kind and isinstance(err.value, RecorderError)
    assert kind in [p.kind for p in check(path)]


def test_legacy_string_variants_are_accepted(tmp_path: Path) -> None:
    events = ["episode_start", "start_action", "stop_action"]
    path, rgb = v4_file(tmp_path, "episode_20251112_131153_1box_hori_left_core_medium", 3)
    with h5py.File(path, "r+") as f:
        _replace("action_event_types", np.array([e.encode() for e in events], dtype="S16"))(f)
        f.create_dataset("language_instruction", data=[INSTRUCTION], dtype=h5py.string_dtype())
    episode = read_episode(path)
    assert episode.event_types == events and episode.meta.instruction == INSTRUCTION
    np.testing.assert_array_equal(episode.images, rgb)
    assert check(path) == []


def test_a_v4_read_does_not_import_opencv(tmp_path: Path) -> None:
    path, rgb = v4_file(tmp_path, "episode_20251112_131153_1box_hori_left_core_medium")
    script = (
        "import sys; from recorder.reader import read_episode; "
        f"e = read_episode({str(path)!r}); "
        "print('cv2' in sys.modules, e.images.flags['C_CONTIGUOUS'], int(e.images[0, 0, 0, 0]))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", str(rgb[0, 0, 0, 0])]
