"""The ROS 2 link's decisions without ROS 2: which topic twists go to (direct or through the watchdog, and
the warning when not through it), where the camera comes from, Twist message conversion, and a one-line error when rclpy is missing."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from mvla_tui.robot.config import CameraConfig, RobotConfig, Ros2Config
from mvla_tui.robot.link import RobotLinkError, Twist
from mvla_tui.robot.ros2 import Ros2Link
from mvla_tui.robot.ros_messages import (
    choose_camera_mode,
    choose_cmd_topic,
    taken_at,
    topic_is_compressed,
    twist_from_msg,
    twist_to_msg,
    watchdog_warning,
)


def test_cmd_topic_goes_through_the_watchdog_when_it_runs() -> None:
    auto = Ros2Config()
    assert choose_cmd_topic(auto, relay_subscribers=1) == "/mvla/cmd_vel"
    assert choose_cmd_topic(auto, relay_subscribers=0) == "/cmd_vel"
    assert choose_cmd_topic(Ros2Config(cmd_vel_topic="/base/cmd_vel"), relay_subscribers=1) == "/base/cmd_vel"


def test_required_watchdog_missing_is_an_error() -> None:
    with pytest.raises(RobotLinkError, match="start `mvla watchdog`"):
        choose_cmd_topic(Ros2Config(require_watchdog=True), relay_subscribers=0)
    assert choose_cmd_topic(Ros2Config(require_watchdog=True), relay_subscribers=2) == "/mvla/cmd_vel"


def test_driving_without_the_watchdog_is_a_warning() -> None:
    config = Ros2Config()
    assert watchdog_warning(config, "/mvla/cmd_vel") is None
    for topic in ("/cmd_vel", "/base/cmd_vel"):
        warning = watchdog_warning(config, topic)
        assert warning is not None and topic in warning and "mvla watchdog" in warning and "\n" not in warning


def test_camera_mode() -> None:
    assert choose_camera_mode(CameraConfig(), service_interface_importable=True) == "service"
    assert choose_camera_mode(CameraConfig(), service_interface_importable=False) == "topic"
    assert choose_camera_mode(CameraConfig(source="opencv"), service_interface_importable=True) == "opencv"
    with pytest.raises(RobotLinkError, match="camera_interfaces"):
        choose_camera_mode(CameraConfig(source="service"), service_interface_importable=False)


def test_compressed_topic_detection() -> None:
    assert topic_is_compressed(CameraConfig(topic="/camera/image_raw/compressed"))
    assert not topic_is_compressed(CameraConfig(topic="/camera/image_raw"))
    assert topic_is_compressed(CameraConfig(topic="/jpeg", topic_type="compressed"))


class Vector:
    def __init__(self) -> None:
        self.x = self.y = self.z = 0.0


class TwistMsg:
    def __init__(self) -> None:
        self.linear, self.angular = Vector(), Vector()


def test_twist_message_round_trip() -> None:
    msg = twist_to_msg(Twist(0.5, -0.25, 1.0), TwistMsg)
    assert (msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.z) == (0.5, -0.25, 0.0, 1.0)
    assert twist_from_msg(msg) == Twist(0.5, -0.25, 1.0)
    assert twist_from_msg(
        SimpleNamespace(linear=SimpleNamespace(x=1, y=2, z=9), angular=SimpleNamespace(z=3))
    ) == Twist(1.0, 2.0, 3.0)


def test_ros2_link_without_rclpy_says_to_source_ros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rclpy", None)  # as where ROS 2 is not sourced (None: import fails)
    link = Ros2Link(RobotConfig())
    with pytest.raises(RobotLinkError, match="source your ROS 2 setup.bash") as info:
        link.connect()
    assert "\n" not in str(info.value)
    link.stop()  # a link that never connected stops without error
    link.close()


def stamped(seconds: float) -> SimpleNamespace:
    sec = int(seconds)
    return SimpleNamespace(
        header=SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=round((seconds - sec) * 1e9)))
    )


@pytest.mark.parametrize(
    ("header_s", "taken"),
    [
        (1_700_000_099.7, 99.7),  # taken 0.3 s before it arrived (at 100.0 on the link's clock)
        (0.0, 100.0),  # no stamp: when it arrived
        (1_700_000_100.5, 100.0),  # from the future: a camera clock not the robot's
        (1_700_000_080.0, 100.0),  # 20 s old: not believed either
    ],
)
def test_an_image_is_stamped_when_its_header_says_it_was_taken(header_s: float, taken: float) -> None:
    wall_minus_clock = 1_700_000_000.0  # time.time() - the link's clock when it arrived
    assert taken_at(stamped(header_s), 100.0, wall_minus_clock) == pytest.approx(taken, abs=1e-6)
