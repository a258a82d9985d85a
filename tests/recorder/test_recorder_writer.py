"""`EpisodeWriter`: round trip, the V4 layout older readers expect, abort paths and a full disk."""

from __future__ import annotations

import errno
import os
import time
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from recorder_builders import key_actions, record, rgb_frames

from recorder import journal
from recorder.check import check
from recorder.episode import EpisodeMeta
from recorder.reader import read_episode
from recorder.recover import SALVAGE, find_leftovers, salvage
from recorder.writer import EpisodeWriter, RecorderError

META = EpisodeMeta(
    scenario="2box_left", pattern="variant", distance="close", robot="fake", camera="test:16x12"
)
NOON = datetime(2025, 11, 12, 13, 11, 53)
NAME = "episode_20251112_131153_2box_hori_left_variant_close"


def _record(folder: Path, n: int = 5, **kwargs) -> tuple[Path, np.ndarray, np.ndarray, list[str]]:
    images, actions = rgb_frames(n), key_actions(n)
    events = ["episode_start"] + ["start_action"] * (n - 2) + ["stop_action"]
    with EpisodeWriter(folder, META, now=lambda: NOON, **kwargs) as writer:
        for i in range(n):
            writer.append(images[i], actions[i], events[i], timestamp=0.4 * i)
        path = writer.finish()
    return path, images, actions, events


def test_round_trip_is_identical(tmp_path: Path) -> None:
    path, images, actions, events = _record(tmp_path)
    assert path.name == "episode_20251112_131153_2box_hori_left_variant_close.h5"
    episode = read_episode(path)
    assert episode.layout == "v4"
    np.testing.assert_array_equal(episode.images, images)
    np.testing.assert_array_equal(episode.actions, actions)
    assert episode.event_types == events
    np.testing.assert_allclose(episode.timestamps, 0.4 * np.arange(5))
    meta = episode.meta
    assert (meta.scenario, meta.pattern, meta.distance, meta.robot, meta.camera) == (
        "2box_left",
        "variant",
        "close",
        "fake",
        "test:16x12",
    )
    assert meta.instruction == "Navigate around the obstacle on the left side and reach the cup"
    assert meta.collector.startswith("mvla") and meta.recovered is False
    assert check(path) == []
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_file_is_the_v4_layout_older_readers_expect(tmp_path: Path) -> None:
    path, images, actions, _ = _record(tmp_path, compression_level=3)
    with h5py.File(path, "r") as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == (5, 12, 16, 3)
        assert f["images"].compression == "gzip"
        np.testing.assert_array_equal(f["images"][()], images[..., ::-1])  # BGR on disk
        assert f["actions"].dtype == np.float32 and f["actions"].compression == "gzip"
        assert h5py.check_string_dtype(f["action_event_types"].dtype).encoding == "utf-8"
        assert f["action_event_types"][0] == b"episode_start"
        assert f["language_instruction"].dtype == np.dtype("S256") and f["language_instruction"].shape == (1,)
        assert f["timestamps"].dtype == np.float64
        attrs = dict(f.attrs)
    assert attrs["episode_name"] == path.stem and attrs["num_frames"] == 5 and attrs["action_chunk_size"] == 8
    assert attrs["obstacle_layout_type"] == "hori" and attrs["time_period"] == "evening"
    assert attrs["collection_datetime"] == NOON.isoformat()
    assert (attrs["collection_hour"], attrs["collection_minute"]) == (13, 11)
    assert (attrs["scenario"], attrs["color_order"], attrs["schema_version"]) == ("2box_left", "bgr", "4.1")
    assert attrs["recovered"] == False  # noqa: E712 - a numpy bool


def test_same_second_gets_the_next_free_name(tmp_path: Path) -> None:
    first, *_ = _record(tmp_path)
    second, *_ = _record(tmp_path)
    assert first.stem.endswith("131153_2box_hori_left_variant_close")
    assert second.stem == "episode_20251112_131154_2box_hori_left_variant_close"


def test_leaving_the_block_without_finish_aborts(tmp_path: Path) -> None:
    with pytest.raises(KeyError), EpisodeWriter(tmp_path, META) as writer:
        writer.append(rgb_frames(1)[0], [0, 0, 0], "episode_start")
        assert writer.journal.exists()
        raise KeyError("operator pressed X")
    assert list(tmp_path.iterdir()) == []
    with EpisodeWriter(tmp_path, META) as writer:
        writer.append(rgb_frames(1)[0], [0, 0, 0], "episode_start")
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_a_one_line_recorder_error(tmp_path: Path) -> None:
    with EpisodeWriter(tmp_path, META) as writer:
        image = rgb_frames(1)[0]
        with pytest.raises(RecorderError, match="RGB uint8"):
            writer.append(image.astype(np.float32), [0, 0, 0], "episode_start")
        with pytest.raises(RecorderError, match="3 finite numbers"):
            writer.append(image, [np.nan, 0, 0], "episode_start")
        with pytest.raises(RecorderError, match="finite number of seconds"):
            writer.append(image, [0, 0, 0], "episode_start", timestamp=float("nan"))
        with pytest.raises(RecorderError, match="number of seconds"):
            writer.append(image, [0, 0, 0], "episode_start", timestamp="soon")
        with pytest.raises(RecorderError, match="unknown event type 'jump'"):
            writer.append(image, [0, 0, 0], "jump")
        writer.append(image, [0, 0, 0], "episode_start")
        with pytest.raises(RecorderError, match="frame size changed"):
            writer.append(image[:6], [0, 0, 0], "start_action")
    with pytest.raises(RecorderError, match="has no frames"), EpisodeWriter(tmp_path, META) as writer:
        writer.finish()
    with pytest.raises(RecorderError, match="without pattern, distance"):
        EpisodeWriter(tmp_path, EpisodeMeta(scenario="1box_left"))
    with pytest.raises(RecorderError, match="unknown scenario '1box_up'"):
        EpisodeWriter(tmp_path, EpisodeMeta(scenario="1box_up", pattern="core", distance="far"))
    with pytest.raises(RecorderError, match="does not exist"):
        EpisodeWriter(tmp_path / "missing", META)
    assert list(tmp_path.iterdir()) == []


def _fail_with_enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_recording_aborts_and_keeps_earlier_episodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = record(tmp_path, 4)
    writer = EpisodeWriter(tmp_path, META)
    monkeypatch.setattr(os, "writev", _fail_with_enospc)  # every journal write from now on hits ENOSPC
    with pytest.raises(RecorderError, match="disk full") as err:
        for i in range(50):  # the error reaches the caller at the first call after the failed write
            writer.append(rgb_frames(1)[0], [1.15, 0, 0], "start_action" if i else "episode_start")
        writer.finish()
    assert "\n" not in str(err.value) and "record it again" in str(err.value)
    assert sorted(tmp_path.iterdir()) == [earlier]
    assert check(earlier) == [] and len(read_episode(earlier)) == 4


def test_disk_full_at_finish_keeps_every_frame_for_recover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = record(tmp_path, 4)
    monkeypatch.setattr("recorder.h5write.fsync_path", _fail_with_enospc)
    with pytest.raises(RecorderError, match="disk full") as err:
        _record(tmp_path, 5)
    message = str(err.value)
    assert "\n" not in message and f"mvla dataset recover {tmp_path}" in message and "free" in message
    # No half-built file and nothing under a final name; the journal with every frame stays.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([earlier.name, f".{NAME}.h5.partial"])
    monkeypatch.undo()
    (leftover,) = find_leftovers(tmp_path)
    assert (leftover.state, leftover.frames) == (SALVAGE, 5)
    episode = read_episode(salvage(leftover))
    np.testing.assert_array_equal(episode.images, rgb_frames(5))
    np.testing.assert_array_equal(episode.actions, key_actions(5))
    assert episode.meta.recovered and len(read_episode(earlier)) == 4


def test_a_busy_cpu_stores_frames_uncompressed_instead_of_stalling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compress = journal.compress_frame

    def slow_deflate(image, level):
        if level:
            time.sleep(0.05)  # a CPU busy with something else
        return compress(image, level)

    monkeypatch.setattr(journal, "compress_frame", slow_deflate)
    images, actions = rgb_frames(6), key_actions(6)
    with EpisodeWriter(tmp_path, META, max_pending=4, workers=1) as writer:
        for image, action in zip(images, actions, strict=True):
            writer.append(image, action, "start_action")
        path = writer.finish()
    assert writer.raw_frames > 0
    episode = read_episode(path)
    np.testing.assert_array_equal(episode.images, images)
    np.testing.assert_array_equal(episode.actions, actions)
    assert check(path) == []
    with h5py.File(path, "r") as f:  # level-0 chunks are still ordinary gzip chunks
        assert f["images"].compression == "gzip"
