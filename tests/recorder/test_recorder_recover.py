"""Salvage of recordings interrupted by a crash: torn tails, stale and live temporary files, the
`mvla dataset recover` command without a terminal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from recorder_builders import key_actions, record, rgb_frames

from recorder import journal
from recorder.check import check
from recorder.episode import EpisodeMeta
from recorder.reader import read_episode
from recorder.recover import (
    ALREADY_SAVED,
    IN_USE,
    NOT_JOURNAL,
    NOTHING,
    SALVAGE,
    find_leftovers,
    salvage,
)
from recorder.writer import EpisodeWriter, RecorderError
from tests.cli_helpers import mvla

NAME = "episode_20251112_131153_1box_hori_right_core_far"
HEADER = {
    "name": NAME,
    "scenario": "1box_right",
    "pattern": "core",
    "distance": "far",
    "layout": "hori",
    "instruction": "Navigate around the obstacle on the right side and reach the cup",
    "robot": "fake",
    "camera": None,
    "collector": "mvla test",
    "started": "2025-11-12T13:11:53",
    "compression_level": 1,
    "color_order": "bgr",
}


def _journal(folder: Path, n: int, tail: bytes = b"", header: dict | None = None) -> Path:
    """A journal as a crashed recorder leaves it: header, `n` whole frames, then `tail`."""
    path = journal.journal_path(folder, NAME)
    images, actions = rgb_frames(n), key_actions(n)
    with open(path, "wb") as f:
        f.write(journal.header_bytes(HEADER if header is None else header))
        for i in range(n):
            planes = journal.compress_frame(images[i], 1)
            event = "start_action" if i else "episode_start"
            f.write(b"".join(journal.frame_parts(planes, 0.4 * i, actions[i], event, *images[i].shape[:2])))
        f.write(tail)
    return path


def test_salvage_keeps_every_whole_frame_and_drops_a_torn_tail(tmp_path: Path) -> None:
    path = _journal(tmp_path, 4)
    whole = path.read_bytes()
    _journal(tmp_path, 5)
    path.write_bytes(path.read_bytes()[: len(whole) + 100])  # the 5th frame was cut mid-write
    (leftover,) = find_leftovers(tmp_path)
    assert (leftover.state, leftover.frames, leftover.torn_bytes) == (SALVAGE, 4, 100)
    saved = salvage(leftover)
    assert saved == tmp_path / f"{NAME}.h5"
    assert [p.name for p in tmp_path.iterdir()] == [saved.name]
    episode = read_episode(saved)
    np.testing.assert_array_equal(episode.images, rgb_frames(4))
    np.testing.assert_array_equal(episode.actions, key_actions(4))
    assert episode.meta.recovered is True and episode.meta.scenario == "1box_right"
    np.testing.assert_allclose(episode.timestamps, 0.4 * np.arange(4))
    assert check(saved) == []


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({k: v for k, v in HEADER.items() if k != "instruction"}, "header lacks 'instruction'"),
        ({**HEADER, "compression_level": "1"}, "compression_level must be an integer, got '1' in its header"),
    ],
)
def test_a_header_of_another_version_is_one_line_and_keeps_the_journal(
    tmp_path: Path, header: dict, message: str
) -> None:
    path = _journal(tmp_path, 2, header=header)
    (leftover,) = find_leftovers(tmp_path)
    with pytest.raises(RecorderError, match=message) as caught:
        salvage(leftover)
    assert "not salvaged" in str(caught.value) and "\n" not in str(caught.value)
    assert path.is_file() and not leftover.final.exists()


def test_a_newer_header_key_is_ignored_when_salvaging(tmp_path: Path) -> None:
    _journal(tmp_path, 2, header={**HEADER, "added_later": 1})
    (leftover,) = find_leftovers(tmp_path)
    assert salvage(leftover) == leftover.final and read_episode(leftover.final).meta.recovered


def test_a_corrupt_record_ends_the_salvage(tmp_path: Path) -> None:
    path = _journal(tmp_path, 4)
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF  # a flipped bit inside the last frame: its CRC no longer holds
    path.write_bytes(bytes(data))
    (leftover,) = find_leftovers(tmp_path)
    assert leftover.frames == 3
    assert len(read_episode(salvage(leftover))) == 3


def test_stale_and_empty_leftovers_are_only_tidied(tmp_path: Path) -> None:
    _journal(tmp_path, 0, tail=b"\x01\x02")
    journal.build_path(tmp_path, NAME).write_bytes(b"half an HDF5 file")
    (leftover,) = find_leftovers(tmp_path)
    assert leftover.state == NOTHING
    assert salvage(leftover) is None and list(tmp_path.iterdir()) == []

    final = tmp_path / f"{NAME}.h5"
    final.write_bytes(b"the finished episode")  # crash between the rename and removing the journal
    _journal(tmp_path, 3)
    (leftover,) = find_leftovers(tmp_path)
    assert leftover.state == ALREADY_SAVED
    assert salvage(leftover) is None
    assert list(tmp_path.iterdir()) == [final] and final.read_bytes() == b"the finished episode"


def test_a_running_recording_is_left_alone(tmp_path: Path) -> None:
    meta = EpisodeMeta(scenario="1box_left", pattern="core", distance="close")
    with EpisodeWriter(tmp_path, meta) as writer:
        writer.append(rgb_frames(1)[0], [0, 0, 0], "episode_start")
        (leftover,) = find_leftovers(tmp_path)
        assert leftover.state == IN_USE
        with pytest.raises(RecorderError, match="still being recorded"):
            salvage(leftover)
        result = mvla("dataset", "recover", str(tmp_path))
        assert result.returncode == 0 and "left alone" in result.stdout
        path = writer.finish()
    assert len(read_episode(path)) == 1


def test_recover_command_without_a_terminal(tmp_path: Path) -> None:
    earlier = record(tmp_path, 3)
    _journal(tmp_path, 3, tail=b"torn")
    dry = mvla("dataset", "recover", str(tmp_path), "--dry-run")
    assert (
        dry.returncode == 0 and f"{NAME}: 3 complete frame(s)" in dry.stdout and "(recovered)" in dry.stdout
    )
    assert journal.journal_path(tmp_path, NAME).exists()

    asked = mvla("dataset", "recover", str(tmp_path))  # no terminal and no -y: the plan, and no change
    assert asked.returncode == 1 and "Nothing changed" in asked.stdout and " -y" in asked.stdout
    assert "(recovered)" in asked.stdout and journal.journal_path(tmp_path, NAME).exists()

    done = mvla("dataset", "recover", str(tmp_path), "-y")
    assert done.returncode == 0, done.stderr
    assert "saved 1 recovered episode" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([earlier.name, f"{NAME}.h5"])
    assert read_episode(tmp_path / f"{NAME}.h5").meta.recovered

    _journal(tmp_path, 0).rename(journal.journal_path(tmp_path, NAME + "_x"))
    assert mvla("dataset", "recover", str(tmp_path), "--discard").returncode == 1  # no terminal, no -y
    assert journal.journal_path(tmp_path, NAME + "_x").exists()
    gone = mvla("dataset", "recover", str(tmp_path), "--discard", "-y")
    assert gone.returncode == 0 and "delete" in gone.stdout
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    assert mvla("dataset", "recover", str(tmp_path / "nope")).returncode == 2


def test_a_temporary_name_that_is_not_a_journal_is_left_alone(tmp_path: Path) -> None:
    foreign = journal.journal_path(tmp_path, "episode_20251112_131153_1box_hori_left_core_far")
    foreign.write_bytes(b"an export written by another tool")
    (leftover,) = find_leftovers(tmp_path)
    assert leftover.state == NOT_JOURNAL and "not a journal" in leftover.describe()
    assert salvage(leftover) is None and foreign.exists()

    kept = mvla("dataset", "recover", str(tmp_path), "-y")
    assert kept.returncode == 0 and "not a journal" in kept.stdout and "--discard" in kept.stdout
    assert foreign.exists()
    gone = mvla("dataset", "recover", str(tmp_path), "--discard", "-y")
    assert gone.returncode == 0 and not foreign.exists()
