"""With ROS 2 sourced (marker `ros`): the real link publishes Twists directly or through a running
`mvla watchdog`, the watchdog stops the robot when commands stop, and topic images arrive as RGB."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest

from mvla_tui.robot.config import CameraConfig, RobotConfig, Ros2Config
from mvla_tui.robot.link import Twist

pytestmark = pytest.mark.ros


@pytest.fixture(autouse=True)
def private_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def listener(topic: str):
    from mvla_tui.robot.ros2 import RosNode
    from mvla_tui.robot.ros_messages import twist_from_msg

    ros = RosNode("mvla_test_listener")
    received: list[Twist] = []
    ros.node.create_subscription(ros.ros.TwistMsg, topic, lambda m: received.append(twist_from_msg(m)), 10)
    ros.spin_in_background()
    return ros, received


def test_direct_publish_without_watchdog() -> None:
    from mvla_tui.robot.ros2 import Ros2Link

    ros, received = listener("/cmd_vel")
    link = Ros2Link(RobotConfig(camera=CameraConfig(source="none"), ros2=Ros2Config(discovery_s=0.3)))
    try:
        link.connect()
        assert link.cmd_topic == "/cmd_vel"
        wait_for(lambda: (link.send(Twist(0.2, 0.0, 0.0)), bool(received))[1])
        assert received[-1] == Twist(0.2, 0.0, 0.0)
        link.stop()
        wait_for(lambda: received[-1].is_zero)
    finally:
        link.close()
        ros.shutdown()


def test_watchdog_relays_then_stops_when_commands_stop() -> None:
    from mvla_tui.robot.ros2 import Ros2Link

    watchdog = subprocess.Popen([sys.executable, "-m", "mvla_tui", "watchdog", "--timeout", "0.3"])
    ros, received = listener("/cmd_vel")
    link = Ros2Link(RobotConfig(camera=CameraConfig(source="none"), ros2=Ros2Config(discovery_s=10.0)))
    try:
        link.connect()
        assert link.cmd_topic == "/mvla/cmd_vel"
        move = Twist(0.3, 0.1, 0.0)
        wait_for(lambda: (link.send(move), bool(received) and received[-1] == move)[1])
        time.sleep(0.8)  # silence, as if mvla had been killed with SIGKILL
        assert received[-1].is_zero
    finally:
        link.close()
        watchdog.terminate()
        watchdog.wait(timeout=10)
        ros.shutdown()
    assert watchdog.returncode == 0


def test_camera_topic_images_arrive_as_rgb() -> None:
    from mvla_tui.robot.ros2 import Ros2Link, RosNode

    ros = RosNode("mvla_test_camera")
    publisher = ros.node.create_publisher(ros.ros.Image, "/mvla_test/image", 10)
    rgb = np.random.default_rng(0).integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    camera = CameraConfig(source="topic", topic="/mvla_test/image", startup_timeout_s=10.0)
    link = Ros2Link(RobotConfig(camera=camera, ros2=Ros2Config(cmd_vel_topic="/mvla_test/cmd_vel")))
    try:
        link.connect()
        msg = ros.ros.Image()
        msg.height, msg.width, msg.encoding, msg.step = 6, 8, "bgr8", 24
        msg.data = rgb[..., ::-1].tobytes()

        def arrived() -> bool:
            publisher.publish(msg)
            return link.latest_frame() is not None

        wait_for(arrived)
        assert np.array_equal(link.latest_frame().image, rgb)
    finally:
        link.close()
        ros.shutdown()
