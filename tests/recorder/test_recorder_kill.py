"""Kill test: a child process recording episodes is killed with SIGKILL at 50 random moments.

After each kill: `check` finds no damaged file under a final name, every episode the child saw
finished reads back whole (every frame bit-exact), and the leftover temporary file is recoverable.
The child is forked from this process so that 50 kills cost no interpreter start-ups.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from recorder.check import check
from recorder.episode import EpisodeMeta
from recorder.reader import read_episode
from recorder.recover import ALREADY_SAVED, IN_USE, SALVAGE, find_leftovers, salvage
from recorder.writer import EpisodeWriter

KILLS = 50
META = EpisodeMeta(scenario="2box_right", pattern="variant", distance="medium", robot="fake")


def _frame(i: int) -> np.ndarray:
    """Frame `i` of every episode: its content tells which frame it is."""
    return np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _action(i: int) -> np.ndarray:
    return np.array([1.15 * (i % 2), -1.15 * (i % 3 == 0), 0.5 * i], np.float32)


def _child(folder: Path, log: Path, seed: int, ready: int) -> None:
    """Record episodes of 2..8 frames until killed; log `name frames` after each finish(). One byte on
    `ready` when recording starts, so the kill's moment is measured from there, not from the fork (a
    fork of a big test process on a loaded machine can take longer than the whole kill window)."""
    rng = random.Random(seed)
    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(ready, b"r")
    while True:
        n = rng.randint(2, 8)
        with EpisodeWriter(folder, META, workers=2) as writer:
            for i in range(n):
                writer.append(_frame(i), _action(i), "start_action" if i else "episode_start")
                time.sleep(rng.random() * 0.004)
            path = writer.finish()
        os.write(log_fd, f"{path.name} {n}\n".encode())


def _assert_whole(path: Path, frames: int | None = None) -> None:
    episode = read_episode(path)
    if frames is not None:
        assert len(episode) == frames, path.name
    for i in range(len(episode)):
        np.testing.assert_array_equal(episode.images[i], _frame(i))
        np.testing.assert_array_equal(episode.actions[i], _action(i))


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_damaged_episode(tmp_path: Path) -> None:
    folder, log = tmp_path / "data", tmp_path / "finished.log"
    folder.mkdir()
    rng = random.Random(1234)
    salvaged = checked = 0
    recovered: set[Path] = set()
    for kill in range(KILLS):
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child never returns into pytest
            try:
                os.close(ready_r)
                _child(folder, log, seed=kill, ready=ready_w)
            finally:
                os._exit(1)
        os.close(ready_w)
        started, _, _ = select.select([ready_r], [], [], 30.0)
        os.close(ready_r)
        assert started, f"kill {kill}: the recording child did not start within 30 s"
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

        finals = sorted(folder.glob("*.h5"))
        for path in finals:
            problems = check(path)
            if problems and path in recovered:  # a salvaged 1-frame start is short, not damaged
                assert [p.kind for p in problems] == ["too_short"]
            else:
                assert problems == [], f"after kill {kill}: {path.name}: {problems}"
        checked += len(finals)
        logged = dict(line.split() for line in log.read_text().splitlines()) if log.exists() else {}
        for name, frames in logged.items():
            _assert_whole(folder / name, int(frames))

        leftovers = find_leftovers(folder)
        assert len(leftovers) <= 1 and all(lo.state != IN_USE for lo in leftovers)
        for leftover in leftovers:
            state = leftover.state
            result = salvage(leftover)
            if state == SALVAGE:
                salvaged += 1
                assert result is not None and read_episode(result).meta.recovered
                recovered.add(result)
                _assert_whole(result)
            elif state == ALREADY_SAVED:
                _assert_whole(leftover.final)
        assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert len(logged) >= 10, "too few episodes finished: the kills did not exercise finish()"
    assert salvaged > 5, "too few kills landed mid-episode to test salvage"
    assert checked > 0
