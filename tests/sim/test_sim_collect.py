"""`mvla sim collect` writes recorder episodes that pass the dataset check, with the collector's frame
flow, names and metadata; failed expert episodes are not saved; bad arguments are one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.cli import main


def test_collected_episodes_pass_the_check_and_carry_their_metadata(tmp_path: Path, capsys) -> None:
    from recorder.catalogue import load_catalogue
    from recorder.check import check
    from recorder.reader import read_episode

    out = tmp_path / "data"
    argv = ["sim", "collect", "--episodes", "3", "--out", str(out), "--size", "64x48", "--seed", "4"]
    argv += [
        "--scenario",
        "2box_right",
        "1box_vert_left",
        "--distance",
        "far",
        "--pattern",
        "core",
        "variant",
    ]
    assert main(argv) == 0
    assert "saved 3 episodes" in capsys.readouterr().out
    paths = sorted(out.glob("*.h5"))
    assert len(paths) == 3
    catalogue = load_catalogue()
    seen, seeds = set(), set()
    for path in paths:
        assert check(path) == [], path.name
        episode = read_episode(path)
        meta = episode.meta
        seen.add((meta.scenario, meta.pattern))
        assert meta.robot == "sim" and meta.camera == "sim:64x48" and meta.distance == "far"
        assert meta.instruction == catalogue.default_instruction(meta.scenario)
        token = "2box_hori_right" if meta.scenario == "2box_right" else "1box_vert_left"
        assert path.stem.endswith(f"_{token}_{meta.pattern}_far")
        assert episode.images.shape[1:] == (48, 64, 3) and episode.images.dtype == np.uint8
        assert episode.event_types[0] == "episode_start" and not episode.actions[0].any()
        assert set(episode.event_types[1:]) == {"start_action"}
        moving = episode.actions[1:]
        assert np.all(np.isin(moving, np.float32([0.0, 1.15, -1.15]))) and np.all(np.abs(moving).sum(1) > 0)
        assert np.all(np.diff(episode.timestamps) >= 0)
        assert meta.attrs["sim_success"] and meta.attrs["sim_failure"] == "" and meta.outcome == "success"
        assert meta.attrs["sim_bias"] in ("left", "center", "right") and meta.attrs["sim_noise"] == 0.0
        seeds.add(meta.attrs["sim_seed"])
    assert len(seeds) == 3
    assert seen == {("2box_right", "core"), ("1box_vert_left", "core"), ("2box_right", "variant")}


def test_failed_expert_episodes_are_not_saved(tmp_path: Path, capsys) -> None:
    out = tmp_path / "data"
    argv = [
        "sim",
        "collect",
        "--episodes",
        "2",
        "--out",
        str(out),
        "--size",
        "32x32",
        "--set",
        "sim.max_presses=3",
    ]
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "saved 0 episodes" in printed and "failed 2 of 2" in printed
    assert not list(out.glob("*.h5")) and not list(out.glob(".*"))


@pytest.mark.slow
def test_kept_failures_are_marked_so_training_can_drop_them(tmp_path: Path, capsys) -> None:
    from recorder.check import check
    from recorder.reader import read_episode

    out = tmp_path / "data"
    argv = ["sim", "collect", "--episodes", "2", "--out", str(out), "--size", "32x32", "--seed", "3"]
    assert main([*argv, "--set", "sim.max_presses=3", "--keep-failed"]) == 0
    assert "saved 2 episodes" in capsys.readouterr().out
    for path in sorted(out.glob("*.h5")):
        assert check(path) == [], path.name
        attrs = read_episode(path).meta.attrs
        assert not attrs["sim_success"] and read_episode(path).meta.outcome == "failure"
        assert attrs["sim_failure"] == "never got past the obstacle"
        assert attrs["sim_seed"] in (3_000_009, 3_000_010)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--episodes", "0"], "--episodes must be at least 1"),
        (["--episodes", "1", "--scenario", "3box_left"], "unknown scenario '3box_left'"),
        (["--episodes", "1", "--size", "big"], "--size 'big': expected WIDTHxHEIGHT"),
        (["--episodes", "1", "--size", "8x8"], "--size '8x8': sim camera size must be 16..4096 pixels"),
        (["--episodes", "1", "--noise", "1.5"], "--noise must be a probability"),
        (["--episodes", "1", "--set", "teleop.throttle=300"], "teleop.throttle must be within"),
        (
            ["--episodes", "1", "--set", "teleop.settle_s=.nan"],
            "teleop.settle_s must be a finite number >= 0",
        ),
        (["--episodes", "1", "--set", "teleop.step_s=.inf"], "teleop.step_s must be a positive number"),
        (
            ["--episodes", "1", "--set", "sim.speed_per_unit=.nan"],
            "sim.speed_per_unit must be a finite number > 0",
        ),
        (
            ["--episodes", "1", "--set", "sim.realtime_fps=-.inf"],
            "sim.realtime_fps must be a finite number > 0",
        ),
        (["--episodes", "1", "--set", "sim.scenery=1"], "unknown key 'sim.scenery'"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    cmd = [sys.executable, "-m", "mvla_tui", "sim", "collect", "--out", str(tmp_path / "d"), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed", ["-1", "2.5"])
def test_a_bad_seed_is_refused_by_argument_parsing(tmp_path: Path, seed: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "mvla_tui",
        "sim",
        "collect",
        "--episodes",
        "1",
        "--out",
        str(tmp_path / "d"),
    ]
    result = subprocess.run([*cmd, "--seed", seed], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --seed:" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_an_unknown_mujoco_gl_is_a_one_line_error(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "mvla_tui",
        "sim",
        "collect",
        "--episodes",
        "1",
        "--out",
        str(tmp_path / "d"),
    ]
    env = {**os.environ, "MUJOCO_GL": "bogus"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MUJOCO_GL='bogus'" in lines[0], result.stderr
    assert "egl, osmesa or glfw" in lines[0]
    assert not (tmp_path / "d").exists(), "nothing is created before the renderer is known to load"
