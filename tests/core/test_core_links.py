"""One way to get a robot: `make_link` builds every kind from a robot config with the same constructor
shape and the same `warnings`; `--robot auto` says what it chose and why; `mvla drive` drives through
the operating core and stops the robot on every way out."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from configs import ConfigError
from mvla_tui.cli import main
from mvla_tui.robot.config import load_robot_config
from mvla_tui.robot.link import RobotLink, Twist
from mvla_tui.robot.links import choose_robot, make_link, robot_config_for, ros_found
from recorder.reader import read_episode
from tests.sim.sim_configs import sim_config

ROOT = Path(__file__).parents[2]


def test_auto_picks_ros2_when_ros2_is_sourced_and_says_so() -> None:
    choice = choose_robot("auto", ros=lambda: (True, "ROS 2 humble sourced"))
    assert choice.kind == "ros2" and choice.reason.startswith("ros2 — ROS 2 humble sourced (--robot auto)")


def test_auto_falls_back_to_the_sim_and_says_how_to_drive_the_robot() -> None:
    choice = choose_robot("auto", ros=lambda: (False, "no ROS 2 found"))
    assert choice.kind == "sim"
    assert choice.reason.startswith("sim — no ROS 2 found; source /opt/ros/humble/setup.bash")


def test_rclpy_without_a_sourced_ros2_is_not_a_robot(monkeypatch) -> None:
    """The `ros-test` wheels make rclpy import in a development environment: auto must not start DDS."""
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object() if name == "rclpy" else None)
    assert ros_found({}) == (False, "rclpy imports but ROS 2 is not sourced (no ROS_DISTRO)")
    assert ros_found({"ROS_DISTRO": "humble"}) == (True, "ROS 2 humble sourced")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    assert ros_found({"ROS_DISTRO": "humble"})[0] is False


def test_an_explicit_choice_is_taken_as_asked() -> None:
    assert choose_robot("fake").kind == "fake" and "as asked" in choose_robot("fake").reason
    with pytest.raises(ConfigError, match="--robot 'turtle'"):
        choose_robot("turtle")


@pytest.mark.parametrize("kind", ["fake", "sim"])
def test_every_link_is_built_the_same_way_and_has_warnings(kind: str) -> None:
    config = sim_config() if kind == "sim" else load_robot_config("fake")
    link = make_link(config)
    assert isinstance(link, RobotLink) and link.warnings == []
    link.connect()
    try:
        frame = link.latest_frame()
        assert frame is not None and frame.image.ndim == 3
    finally:
        link.close()


def test_the_ros2_link_is_built_without_touching_ros() -> None:
    link = make_link(load_robot_config("ros2"))  # nothing connects before connect()
    assert isinstance(link, RobotLink) and link.warnings == []


def test_a_config_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "robot.yaml"
    path.write_text("kind: fake\n")
    with pytest.raises(ConfigError, match="says kind 'fake' but --robot chose 'sim'"):
        robot_config_for(choose_robot("sim"), str(path))


def test_the_one_set_of_limits_clamps_the_fake_like_the_loop() -> None:
    link = make_link(load_robot_config("fake", ["limits.max_linear_x=0.2"]))
    link.connect()
    assert link.send(Twist(1.0, 0.0, 0.0)) == Twist(0.2, 0.0, 0.0)


def test_drive_presses_keys_on_the_fake_and_records(tmp_path: Path, capsys) -> None:
    argv = [
        "drive",
        "--robot",
        "fake",
        "--keys",
        "w a d",
        "--record",
        str(tmp_path),
        "--scenario",
        "2box_left",
    ]
    assert main([*argv, "--set", "teleop.step_s=0.05", "--set", "teleop.settle_s=0.01"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "robot: fake — as asked (--robot fake)"
    assert out.count("press ") == 3 and "saved " in out
    (path,) = tmp_path.glob("*.h5")
    episode = read_episode(path)
    assert episode.event_types == ["episode_start", "start_action", "start_action", "start_action"]
    assert episode.meta.robot == "fake" and episode.meta.outcome == "success"


def test_drive_refuses_bad_input_in_one_line(capsys) -> None:
    assert main(["drive", "--robot", "fake", "--keys", "w x"]) == 2
    assert "'x' is not a movement key" in capsys.readouterr().err
    assert main(["drive", "--robot", "fake", "--policy", "ckpt"]) == 2
    assert "--policy needs --instruction" in capsys.readouterr().err


def test_sighup_to_drive_stops_the_robot(tmp_path: Path) -> None:
    """The SSH session drops while `mvla drive` moves the robot: the last command it sends is a stop."""
    log = tmp_path / "sent.jsonl"
    config = tmp_path / "fake.yaml"
    config.write_text(f"kind: fake\nteleop: {{mode: latch}}\nfake: {{log_path: {json.dumps(str(log))}}}\n")
    cmd = [sys.executable, "-m", "mvla_tui", "drive", "--robot", "fake", "--robot-config", str(config)]
    child = subprocess.Popen(
        [*cmd, "--keys", "w", "--duration", "60"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not (
            log.exists() and any(json.loads(line)["twist"][0] > 0 for line in log.read_text().splitlines())
        ):
            assert child.poll() is None and time.monotonic() < deadline, "drive never moved the robot"
            time.sleep(0.02)
        child.send_signal(signal.SIGHUP)
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, out
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries[-1]["twist"] == [0.0, 0.0, 0.0] and "stopped:" in out
