"""Closed-loop evaluation end to end on a CPU: the scripted expert records episodes in the sim, the trainer
(`trainer.loop.train`) trains a tiny compact policy on them for a few steps and writes its checkpoint, and
`mvla eval --sim` loads it and lets it drive seeded layouts through the control loop (its success rate is
irrelevant here; the whole path runs). Also: the expert's sanity row, instruction files, `--policy
default`, and one-line errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.cli import main
from mvla_tui.core.evaluation import choose_instructions
from mvla_tui.core.sim_episode import plan_episodes, run_sim_episode
from recorder.catalogue import load_catalogue, load_side_instructions
from tests.sim.sim_configs import sim_config
from tests.trainer.trainer_helpers import train_config
from trainer.config import load_train_config
from trainer.loop import train


@pytest.mark.slow
def test_a_policy_trained_in_the_test_drives_eval_sim(tmp_path: Path, capsys) -> None:
    catalogue = load_catalogue()
    data = tmp_path / "episodes"
    data.mkdir()
    for spec in plan_episodes(2, seed=1):
        assert run_sim_episode(sim_config(width=64, height=48), spec, catalogue, data_dir=data).saved
    result = train(load_train_config(train_config(tmp_path, [data], steps=5)), log=lambda _: None)
    checkpoint = result.final
    assert checkpoint is not None and all(np.isfinite(list(result.losses.values())))

    argv = ["eval", "--sim", "--policy", str(checkpoint), "--episodes", "2", "--size", "64x48", "--seed", "3"]
    video = tmp_path / "videos"
    assert (
        main([*argv, "--json", "--video", str(video), "--set", "policy.max_steps=6", "--device", "cpu"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["policy"].startswith("compact") and "cpu fp32" in report["policy"]
    overall = report["rows"][-1]
    assert overall["scenario"] == "all" and overall["episodes"] == 2
    assert overall["latency_p50_ms"] > 0 and overall["latency_p99_ms"] >= overall["latency_p50_ms"]
    for episode in report["episodes"]:
        assert episode["ended"] in ("policy stop", "collision", "timeout") or episode["success"]
        assert 1 <= episode["steps"] <= 6
        if not episode["success"]:  # every failed episode has its video, which OpenCV can play back
            import cv2

            capture = cv2.VideoCapture(episode["video"])
            ok, frame = capture.read()
            assert ok and frame.shape == (48, 64, 3)


@pytest.mark.slow
def test_eval_sim_realtime_runs_the_app_loop_on_the_wall_clock(capsys) -> None:
    """Two short episodes of the default policy on the wall clock, with one busy process beside them: the
    report carries the loop's timing (steps per second, missed deadlines, stale frames, guard stops)."""
    argv = ["eval", "--sim", "--realtime", "--load", "1", "--policy", "default", "--episodes", "2"]
    started = time.monotonic()
    assert main([*argv, "--size", "64x48", "--set", "policy.max_steps=3", "--threads", "1", "--json"]) == 0
    took = time.monotonic() - started
    report = json.loads(capsys.readouterr().out)
    assert report["clock"] == "realtime" and report["load"] == 1
    overall = report["rows"][-1]
    for key in ("steps_per_s", "missed_deadlines", "missed_rate", "stale_frames", "guard_stops"):
        assert key in overall
    assert overall["guard_stops"] == 0 and overall["stale_frames"] == 0
    assert 0.5 < overall["steps_per_s"] < 2.0  # one step every policy.period_s on the wall clock
    steps = sum(e["steps"] for e in report["episodes"])
    assert took > 0.5 * (steps - 2)  # it really ran in real time (each step after the first of an episode)
    for episode in report["episodes"]:
        assert episode["ended"] in ("policy stop", "collision", "timeout") or episode["success"]
        assert 1 <= episode["steps"] <= 3 and episode["guard_stops"] == 0


def test_the_expert_is_the_sanity_row(capsys) -> None:
    argv = ["eval", "--sim", "--expert", "--episodes", "4", "--size", "32x32", "--seed", "5"]
    assert main([*argv, "--scenario", "1box_right", "2box_vert_left"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "│ all" in line]
    assert len(lines) == 1 and lines[0].count("100.0%") == 2  # success and correct side


def test_instructions_are_drawn_per_side_and_seeded(tmp_path: Path) -> None:
    path = tmp_path / "instructions.yaml"
    path.write_text("left: [go left of the box, keep the box on your right]\nright: [pass it on the right]\n")
    instructions = load_side_instructions(path)
    catalogue = load_catalogue()
    specs = plan_episodes(8, ["1box_left", "2box_right"], seed=2)
    drawn = choose_instructions(specs, catalogue, instructions, seed=2)
    assert drawn == choose_instructions(specs, catalogue, instructions, seed=2)
    for spec, text in zip(specs, drawn, strict=True):
        assert text in instructions[catalogue.get(spec.scenario).side]
    assert len(set(drawn)) == 3
    assert choose_instructions(specs, catalogue, None, 2)[0] == catalogue.default_instruction(
        specs[0].scenario
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expert"], "choose --sim"),
        (["--sim", "--policy", "/nonexistent/ckpt"], "no such checkpoint directory"),
        (["--sim", "--expert", "--scenario", "3box"], "unknown scenario '3box'"),
        (["--sim", "--expert", "--episodes", "0"], "--episodes must be at least 1"),
        (["--sim", "--expert", "--set", "sim.max_presses=0"], "sim.max_presses must be positive"),
        (["--sim", "--expert", "--load", "1"], "--load needs --realtime"),
        (["--sim", "--expert", "--realtime", "--load", "-1"], "--load must be >= 0"),
        (["--sim", "--expert", "--stop-below", "-1"], "policy.stop_below must be a finite number >= 0"),
        (["--sim", "--expert", "--set", "policy.max_steps=0"], "policy.max_steps must be >= 1"),
    ],
)
def test_bad_arguments_are_one_line_errors(args: list[str], message: str, capsys) -> None:
    assert main(["eval", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_bad_instructions_file_is_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "i.yaml"
    path.write_text("left: [go left]\nrigth: [typo]\n")
    assert main(["eval", "--sim", "--expert", "--instructions", str(path)]) == 2
    assert "unknown key 'rigth'" in capsys.readouterr().err
