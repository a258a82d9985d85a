"""Robot configs: the packaged files load, and mistakes are one-line errors naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from configs import ConfigError
from mvla_tui.robot.config import RobotConfig, load_robot_config
from mvla_tui.robot.fake import FakeLink


@pytest.mark.parametrize("name", ["ros2", "fake"])
def test_packaged_configs_load(name: str) -> None:
    config = load_robot_config(name)
    assert isinstance(config, RobotConfig) and config.kind == name
    assert config.teleop.step_s == 0.4 and config.teleop.throttle == 50


def test_overrides_apply() -> None:
    config = load_robot_config("ros2", ["teleop.mode=hold", "ros2.require_watchdog=true"])
    assert config.teleop.mode == "hold" and config.ros2.require_watchdog


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("teleop:\n  step_time: 0.4\n", "unknown key 'teleop.step_time'"),
        ("teleop:\n  mode: drive\n", "teleop.mode must be one of"),
        ("teleop:\n  throttle: 150\n", "teleop.throttle must be within"),
        ("teleop:\n  step_s: 0\n", "teleop.step_s must be a positive number"),
        ("limits:\n  max_linear_x: -1\n", "limits.max_linear_x"),
        ("camera:\n  source: webcam\n", "camera.source must be one of"),
    ],
)
def test_bad_values_name_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "robot.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_robot_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unknown_packaged_name() -> None:
    with pytest.raises(ConfigError, match="use ros2, sim, fake or a YAML path"):
        load_robot_config("turtlebot")


def test_fake_frames_are_marked_synthetic_and_differ(tmp_path: Path) -> None:
    link = FakeLink(load_robot_config("fake"))
    link.connect()
    first, second = link.latest_frame(), link.latest_frame()
    assert first.synthetic and second.synthetic
    assert first.image.shape == (240, 320, 3) and first.image.dtype == np.uint8
    assert first.image[0, 0].tolist() == [255, 0, 255]  # the magenta border of the test card
    assert not np.array_equal(first.image, second.image)
