"""`mvla doctor` on the real-robot path against a stand-in rclpy (tests/robot/robot_fake_ros.py): what an
operator sees when ROS 2 is not sourced, when nothing subscribes to /cmd_vel, when the watchdog relay is
missing or required, and when the camera service or topic answers, and at what rate, or does not. The
doctor itself never publishes a twist."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from mvla_tui.doctor import failed
from mvla_tui.doctor.checks import bounded, fail
from mvla_tui.doctor.ros import environment_check
from mvla_tui.robot.config import CameraConfig, RobotConfig, Ros2Config
from tests.doctor.doctor_helpers import line, quiet_machine, run
from tests.robot import robot_fake_ros

HUMBLE = {"ROS_DISTRO": "humble", "ROS_DOMAIN_ID": "7"}


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> robot_fake_ros.Graph:
    return robot_fake_ros.install(monkeypatch)


def robot(**camera) -> RobotConfig:
    camera = {"width": 8, "height": 6, **camera}
    return RobotConfig(camera=CameraConfig(**camera), ros2=Ros2Config())


def image_msg(width: int = 8, height: int = 6) -> robot_fake_ros.Image:
    msg = robot_fake_ros.Image()
    msg.height, msg.width, msg.step, msg.encoding = height, width, width * 3, "bgr8"
    msg.data = np.full((height, width, 3), 90, np.uint8).tobytes()
    return msg


def base_and_watchdog(graph: robot_fake_ros.Graph) -> None:
    graph.subscriptions["/cmd_vel"].append(lambda msg: None)  # the base driver
    graph.subscriptions["/mvla/cmd_vel"].append(lambda msg: None)  # `mvla watchdog`


def serve_camera(graph: robot_fake_ros.Graph, width: int = 8, height: int = 6) -> None:
    def get_image(request):
        response = robot_fake_ros.GetImage.Response()
        response.image = image_msg(width, height)
        return response

    graph.services["get_image_service"] = get_image


def test_a_ready_robot_is_all_ok_and_nothing_is_published(graph, tmp_path) -> None:
    base_and_watchdog(graph)
    serve_camera(graph)
    checks = run(robot(), quiet_machine(tmp_path, environ=HUMBLE), data=tmp_path)
    assert line(checks, "ros2").status == "ok" and "ROS_DISTRO humble" in line(checks, "ros2").detail
    assert "ROS_DOMAIN_ID 7" in line(checks, "ros2").detail
    assert line(checks, "cmd_vel").status == "ok" and "1 subscriber" in line(checks, "cmd_vel").detail
    assert line(checks, "watchdog").status == "ok"
    camera = line(checks, "camera")
    assert camera.status == "ok", camera
    assert camera.detail.startswith("service get_image_service: 8x6 frames at ") and " Hz" in camera.detail
    assert not failed(checks)
    assert not graph.published  # a doctor only looks
    assert not graph.contexts[-1].ok  # its node is shut down


def test_no_base_driver_and_no_watchdog(graph, tmp_path) -> None:
    serve_camera(graph)
    checks = run(robot(), quiet_machine(tmp_path, environ=HUMBLE), data=tmp_path)
    cmd_vel = line(checks, "cmd_vel")
    assert cmd_vel.status == "fail"
    assert "nothing subscribes to /cmd_vel" in cmd_vel.detail and "base driver" in cmd_vel.fix
    watchdog = line(checks, "watchdog")
    assert watchdog.status == "warn"  # driving without it is allowed, with a warning, as in mvla
    assert "no `mvla watchdog` relay subscribes to /mvla/cmd_vel" in watchdog.detail
    assert "mvla watchdog" in watchdog.fix
    assert failed(checks)


def test_a_required_watchdog_that_is_missing_fails(graph, tmp_path) -> None:
    graph.subscriptions["/cmd_vel"].append(lambda msg: None)
    serve_camera(graph)
    config = RobotConfig(camera=CameraConfig(width=8, height=6), ros2=Ros2Config(require_watchdog=True))
    watchdog = line(run(config, quiet_machine(tmp_path, environ=HUMBLE)), "watchdog")
    assert watchdog.status == "fail" and "start `mvla watchdog`" in watchdog.fix


def test_camera_service_missing_or_of_another_size(graph, tmp_path) -> None:
    base_and_watchdog(graph)
    camera = line(run(robot(), quiet_machine(tmp_path, environ=HUMBLE)), "camera")
    assert camera.status == "fail"
    assert "get_image_service: did not appear within 0.3 s" in camera.detail
    assert "ros2 service list" in camera.fix
    serve_camera(graph, width=16, height=12)
    camera = line(run(robot(), quiet_machine(tmp_path, environ=HUMBLE)), "camera")
    assert camera.status == "warn" and "16x12 frames" in camera.detail and "config says 8x6" in camera.detail
    assert "--set camera.width=16 --set camera.height=12" in camera.fix


def publish_images(topic: str, hz: float, stop: threading.Event) -> None:
    publisher = robot_fake_ros.Publisher(topic)
    while not stop.wait(1.0 / hz):
        publisher.publish(image_msg())


def test_camera_topic_rate(graph, tmp_path, monkeypatch) -> None:
    robot_fake_ros.without_camera_service(monkeypatch)  # auto: the topic, as on a robot without the service
    base_and_watchdog(graph)
    stop = threading.Event()
    thread = threading.Thread(target=publish_images, args=("/camera/image_raw", 40.0, stop), daemon=True)
    thread.start()
    try:
        checks = run(robot(fps=30), quiet_machine(tmp_path, environ=HUMBLE), window_s=0.6)
    finally:
        stop.set()
        thread.join()
    camera = line(checks, "camera")
    assert camera.status == "ok", camera
    rate = float(camera.detail.split(" at ")[1].split(" Hz")[0])
    assert 15 < rate < 60
    assert camera.detail.startswith("topic /camera/image_raw: 8x6 frames")


def test_slow_camera_topic_warns(graph, tmp_path) -> None:
    base_and_watchdog(graph)
    stop = threading.Event()
    thread = threading.Thread(target=publish_images, args=("/camera/image_raw", 6.0, stop), daemon=True)
    thread.start()
    try:
        config = robot(source="topic", fps=30)
        camera = line(run(config, quiet_machine(tmp_path, environ=HUMBLE), window_s=0.8), "camera")
    finally:
        stop.set()
        thread.join()
    assert camera.status == "warn" and "under half the configured 30 fps" in camera.detail


def test_silent_camera_topic_fails_with_the_command_to_look(graph, tmp_path) -> None:
    base_and_watchdog(graph)
    camera = line(run(robot(source="topic"), quiet_machine(tmp_path, environ=HUMBLE)), "camera")
    assert camera.status == "fail" and "no image within 0.3 s" in camera.detail
    assert "ros2 topic hz /camera/image_raw" in camera.fix


def test_ros_not_sourced_fails_fast_with_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rclpy", None)
    started = time.monotonic()
    checks = run(robot(), quiet_machine(tmp_path))
    assert time.monotonic() - started < 5
    ros = line(checks, "ros2")
    assert ros.status == "fail" and "source /opt/ros/humble/setup.bash" in ros.fix
    for name in ("cmd_vel", "watchdog", "camera"):
        assert line(checks, name).status == "fail"
        assert "not checked" in line(checks, name).detail
    assert failed(checks)


def test_distro_other_than_the_robots_warns(graph) -> None:
    check = environment_check("ros2", {"ROS_DISTRO": "jazzy"})
    assert check.status == "warn" and "the robot runs Humble" in check.detail
    check = environment_check("ros2", {})
    assert check.status == "warn" and "no ROS 2 setup is sourced" in check.detail
    assert environment_check("sim", {}).status == "ok"  # the simulator needs no ROS 2


def test_a_hung_probe_becomes_a_failing_line_in_time() -> None:
    started = time.monotonic()
    check = bounded(lambda: time.sleep(10), 0.2, lambda why: fail("camera", why, "restart it"))
    assert time.monotonic() - started < 2
    assert check.status == "fail" and check.detail == "did not finish within 0.2 s"


def test_a_check_that_breaks_is_reported_not_hidden(monkeypatch) -> None:
    monkeypatch.delenv("MVLA_DEBUG", raising=False)

    def broken():
        raise KeyError("jtop")

    check = bounded(broken, 1.0, lambda why: fail("gpu", why, "report it"))
    assert check.status == "fail" and "KeyError" in check.detail
