"""The recording session on the fake robot, as an operator uses it: start -> keys -> save writes exactly
the older collector's V4 file plus our additions, under the current name with its metadata and outcome;
discard leaves nothing; the state follows frames, the core guide and progress; a SIGKILL or a session
that ends mid-episode leaves a journal that `mvla dataset recover` salvages; a second session in the same
folder goes on counting where the first stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from mvla_tui.cli import main
from mvla_tui.core.intents import DiscardEpisode, ProgressLoaded, SaveEpisode, StartEpisode
from mvla_tui.core.saver import EpisodeSaver
from mvla_tui.robot.intents import TeleopKey
from recorder.catalogue import load_catalogue
from recorder.check import check
from recorder.reader import read_episode
from tests.core.core_helpers import at, fake_session, wait_until
from tests.recorder.recorder_builders import damaged_folder

F115 = np.float32(1.15)
LEFT = "Navigate around the obstacle on the left side and reach the cup"


def record(session, clock, keys: str, t0: float = 0.0, **start) -> None:
    at(session, clock, t0, StartEpisode(**start))
    for i, key in enumerate(keys.split()):
        at(session, clock, t0 + 0.5 * (i + 1), TeleopKey(key))


def test_start_keys_save_writes_the_v4_file_with_our_additions(tmp_path: Path) -> None:
    session, link, clock = fake_session(tmp_path)
    record(session, clock, "w a space", scenario="1box_left", pattern="core", distance="medium")
    assert session.state.recording.frames == 4  # episode_start, w, a, and space stopping a
    at(session, clock, 2.5, SaveEpisode("success"))
    files = sorted(tmp_path.glob("*.h5"))
    assert len(files) == 1
    path = files[0]
    assert re.fullmatch(r"episode_\d{8}_\d{6}_1box_hori_left_core_medium\.h5", path.name)
    assert check(path) == []
    with h5py.File(path) as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == (4, 240, 320, 3)
        assert f["images"].compression == "gzip" and f.attrs["color_order"] == "bgr"
        assert f["actions"].dtype == np.float32
        assert [e.decode() for e in f["action_event_types"][()]] == [
            "episode_start",
            "start_action",
            "start_action",
            "stop_action",
        ]
        assert f.attrs["action_chunk_size"] == 8 and f.attrs["num_frames"] == 4
        assert f.attrs["outcome"] == "success" and f.attrs["robot"] == "fake"
        assert f.attrs["camera"] == "fake:320x240" and f["language_instruction"][0].decode() == LEFT
        np.testing.assert_allclose(f["timestamps"][()], [0.0, 0.5, 1.0, 1.5])
    episode = read_episode(path)
    assert episode.actions.tolist() == [[0, 0, 0], [F115, 0, 0], [0, F115, 0], [0, 0, 0]]
    # RGB in memory: the fake's magenta border survives the BGR file boundary.
    assert episode.images[0, 0, 0].tolist() == [255, 0, 255]
    meta = episode.meta
    assert (meta.scenario, meta.pattern, meta.distance, meta.outcome) == (
        "1box_left",
        "core",
        "medium",
        "success",
    )
    state = session.state.recording
    assert not state.recording and state.last_saved == path.name and state.last_outcome == "success"
    progress = json.loads((tmp_path / "scenario_progress.json").read_text())
    assert progress["scenario_stats"]["1box_left"] == 1 and progress["total_completed"] == 1


def test_failure_outcome_and_an_instruction_of_the_operators(tmp_path: Path) -> None:
    session, _, clock = fake_session(tmp_path)
    record(
        session, clock, "d", scenario="2box_right", pattern="variant", distance="far", instruction="go right"
    )
    at(session, clock, 1.5, SaveEpisode("failure"))
    (path,) = tmp_path.glob("*.h5")
    assert path.name.endswith("_2box_hori_right_variant_far.h5")
    episode = read_episode(path)
    assert episode.meta.outcome == "failure" and episode.meta.instruction == "go right"


def test_discard_leaves_nothing(tmp_path: Path) -> None:
    session, _, clock = fake_session(tmp_path)
    record(session, clock, "w w", scenario="1box_right")
    at(session, clock, 2.0, DiscardEpisode())
    assert not session.state.recording.recording
    assert [p.name for p in tmp_path.iterdir()] == []


def test_state_follows_frames_elapsed_and_the_core_guide(tmp_path: Path) -> None:
    session, _, clock = fake_session(tmp_path)
    at(session, clock, 0.0, StartEpisode("1box_left", "core", "medium"))
    state = session.state.recording
    assert state.recording and state.frames == 1 and state.target_frames == 18
    assert state.guide_next == "w" and state.guide_mismatches == 0  # the default guide: w w w a a w w d d
    for i, key in enumerate(["w", "w", "a"]):
        at(session, clock, 0.5 * (i + 1), TeleopKey(key))
    state = session.state.recording
    assert state.frames == 4 and state.elapsed_s == pytest.approx(1.5)
    assert state.guide_mismatches == 1 and state.guide_next == "a"  # the third press should have been w


def test_a_guide_saved_in_core_patterns_json_wins(tmp_path: Path) -> None:
    (tmp_path / "core_patterns.json").write_text(
        json.dumps({"1box_left__core__far": ["q", "q", "SPACE"], "1box_left": ["a"]})
    )
    session, _, clock = fake_session(tmp_path)
    at(session, clock, 0.0, StartEpisode("1box_left", "core", "far"))
    assert session.state.recording.guide_next == "q"
    at(session, clock, 1.0, DiscardEpisode(), StartEpisode("1box_left", "core", "close"))
    assert session.state.recording.guide_next == "a"
    at(session, clock, 2.0, DiscardEpisode(), StartEpisode("1box_left", "variant", "close"))
    assert session.state.recording.guide_next is None  # variant episodes follow no guide


def test_a_damaged_guide_file_is_one_line_and_the_defaults_apply(tmp_path: Path) -> None:
    (tmp_path / "core_patterns.json").write_text('{"1box_left": ["w", "x"]}')
    session, _, clock = fake_session(tmp_path)
    at(session, clock, 0.0, StartEpisode("1box_left", "core", "medium"))
    state = session.state.recording
    assert state.guide_next == "w" and "'x', not a movement key" in state.last_error


def test_refusals_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    session, _, clock = fake_session(tmp_path)
    at(session, clock, 0.0, SaveEpisode())
    assert "nothing is being recorded" in session.state.recording.last_error
    at(session, clock, 0.1, StartEpisode())
    assert "choose a scenario" in session.state.recording.last_error
    at(session, clock, 0.2, StartEpisode("3box_left"))
    assert "unknown scenario '3box_left'" in session.state.recording.last_error
    at(session, clock, 0.3, StartEpisode("1box_left"), StartEpisode("1box_right"))
    assert "already recording" in session.state.recording.last_error
    at(session, clock, 0.4, SaveEpisode("maybe"))
    assert "outcome 'maybe'" in session.state.recording.last_error and session.state.recording.recording


def test_a_repeat_series_keeps_the_setting(tmp_path: Path) -> None:
    session, _, clock = fake_session(tmp_path)
    at(session, clock, 0.0, StartEpisode("2box_left", "core", "close", repeat=2))
    at(session, clock, 0.5, TeleopKey("w"))
    at(session, clock, 1.0, SaveEpisode())
    state = session.state.recording
    assert (state.series_done, state.series_total) == (1, 2)
    at(session, clock, 2.0, StartEpisode())  # Enter again: the same scenario, pattern and distance
    assert session.state.recording.scenario == "2box_left" and session.state.recording.distance == "close"
    at(session, clock, 2.5, TeleopKey("w"))
    at(session, clock, 3.0, SaveEpisode())
    assert (session.state.recording.series_done, session.state.recording.series_total) == (0, 0)
    assert len(list(tmp_path.glob("*_2box_hori_left_core_close.h5"))) == 2


def test_a_second_session_resumes_the_progress_counts(tmp_path: Path) -> None:
    first, _, clock = fake_session(tmp_path)
    for i in range(2):
        record(first, clock, "w", t0=10.0 * i, scenario="1box_left", pattern="core", distance="medium")
        at(first, clock, 10.0 * i + 2, SaveEpisode())
    cell = ("1box_left", "core", "medium")
    done = {(c.scenario, c.pattern, c.distance): c.done for c in first.state.recording.progress}
    assert done[cell] == 2

    second, _, clock2 = fake_session(tmp_path)
    wait_until(lambda: (second.loop.tick(), second.state.recording.progress_counted)[1])
    done = {(c.scenario, c.pattern, c.distance): (c.done, c.target) for c in second.state.recording.progress}
    assert done[cell] == (2, 75) and done[("1box_left", "core", "close")] == (0, 50)
    record(second, clock2, "w", scenario="1box_left", pattern="core", distance="medium")
    at(second, clock2, 2.0, SaveEpisode())
    done = {(c.scenario, c.pattern, c.distance): c.done for c in second.state.recording.progress}
    assert done[cell] == 3


def test_the_count_of_a_folder_with_damaged_files_reads_them_in_a_child(tmp_path: Path, monkeypatch) -> None:
    """A Git LFS pointer, a truncated file and one that crashes the HDF5 library are counted as
    unreadable; the crash happens in the reading child, never in the process that drives the robot."""
    damaged_folder(tmp_path / "data", monkeypatch)
    posted: list[object] = []
    saver = EpisodeSaver(tmp_path / "data", load_catalogue(), posted.append, side_files=False)
    wait_until(lambda: bool(posted), timeout_s=60.0)
    saver.close()
    (loaded,) = posted
    assert isinstance(loaded, ProgressLoaded)
    assert loaded.unreadable == 3 and loaded.counts == {("1box_vert_left", "core", "close"): 1}


def test_a_session_that_ends_mid_episode_keeps_a_recoverable_journal(tmp_path: Path, capsys) -> None:
    session, _, clock = fake_session(tmp_path)
    record(session, clock, "w a", scenario="1box_left")
    for part in session.loop.parts:  # what the end of `run` does, the robot already stopped
        part.on_close()
    assert not list(tmp_path.glob("*.h5"))
    journals = list(tmp_path.glob(".*.partial"))
    assert len(journals) == 1
    assert main(["dataset", "recover", str(tmp_path), "-y"]) == 0
    (path,) = tmp_path.glob("*.h5")
    episode = read_episode(path)
    assert episode.meta.recovered and episode.meta.outcome == "unspecified" and len(episode) == 3


CHILD = """
import sys, time
from pathlib import Path
from mvla_tui.core.intents import StartEpisode
from mvla_tui.core.session import Session
from mvla_tui.robot.config import RobotConfig, TeleopConfig
from mvla_tui.robot.intents import TeleopKey

session = Session(RobotConfig(kind="fake", teleop=TeleopConfig(step_s=0.05)), data_dir=Path(sys.argv[1]),
                  policy=False)
session.start()
session.submit(StartEpisode("1box_right", "core", "far"))
i = 0
while True:
    session.submit(TeleopKey("wasd"[i % 4]))
    i += 1
    time.sleep(0.1)
"""


@pytest.mark.slow
def test_sigkill_mid_episode_leaves_a_journal_that_recover_salvages(tmp_path: Path, capsys) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=Path(__file__).parents[2])
    try:

        def journal_has_frames() -> bool:
            assert child.poll() is None, "the recording child died by itself"
            return any(p.stat().st_size > 200_000 for p in tmp_path.glob(".*.partial"))  # a few frames

        wait_until(journal_has_frames, timeout_s=60)
        time.sleep(0.3)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert not list(tmp_path.glob("*.h5"))
    assert main(["dataset", "recover", str(tmp_path), "-y"]) == 0
    (path,) = tmp_path.glob("*.h5")
    assert path.name.endswith("_1box_hori_right_core_far.h5") and check(path) == []
    episode = read_episode(path)
    assert episode.meta.recovered and episode.meta.outcome == "unspecified"
    assert episode.event_types[0] == "episode_start" and len(episode) >= 3
