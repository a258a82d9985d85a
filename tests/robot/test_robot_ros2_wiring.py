"""`Ros2Link` and the watchdog node wired to a stand-in rclpy (see robot_fake_ros.py): the relay topic is
chosen when the watchdog listens (else a warning, logged once), twists go out clamped, stop and close
publish zero, a failing stop does not cut `close` short, camera images come from the service or a topic as
RGB, and the watchdog forwards, stops on silence and on its way out."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import numpy as np
import pytest
import robot_fake_ros

from configs.limits import LimitsConfig
from mvla_tui.robot import ros2
from mvla_tui.robot.config import CameraConfig, RobotConfig, Ros2Config
from mvla_tui.robot.link import RobotLinkError, Twist
from mvla_tui.robot.ros2 import Ros2Link
from mvla_tui.robot.ros_messages import twist_from_msg


@pytest.fixture
def fake_ros(monkeypatch: pytest.MonkeyPatch) -> robot_fake_ros.Graph:
    return robot_fake_ros.install(monkeypatch)


RGB = np.random.default_rng(1).integers(0, 256, size=(6, 8, 3), dtype=np.uint8)


def bgr8_image() -> robot_fake_ros.Image:
    msg = robot_fake_ros.Image()
    msg.height, msg.width, msg.step, msg.encoding = 6, 8, 24, "bgr8"
    msg.data = RGB[..., ::-1].tobytes()
    return msg


def config(**camera) -> RobotConfig:
    return RobotConfig(
        limits=LimitsConfig(max_linear_x=0.5),
        camera=CameraConfig(**camera),
        ros2=Ros2Config(discovery_s=0.1),
    )


def test_direct_topic_clamped_twists_and_zero_on_close(fake_ros) -> None:
    link = Ros2Link(config(source="none"))
    link.connect()
    assert link.cmd_topic == "/cmd_vel"
    assert link.send(Twist(2.0, 0.1, 0.0)) == Twist(0.5, 0.1, 0.0)
    link.close()
    sent = [twist_from_msg(m) for m in fake_ros.published["/cmd_vel"]]
    assert sent[0] == Twist(0.5, 0.1, 0.0) and sent[-1].is_zero
    assert fake_ros.flushes == [("/cmd_vel", ros2.FLUSH_S)]  # the last zero acknowledged before shutdown
    assert link.latest_frame() is None and link.camera_hz is None  # camera.source none
    link.stop()  # closed: no error, nothing published
    assert len(fake_ros.published["/cmd_vel"]) == len(sent)
    assert not fake_ros.contexts[0].ok


def test_relay_topic_when_the_watchdog_listens(fake_ros, caplog) -> None:
    fake_ros.subscriptions["/mvla/cmd_vel"].append(lambda msg: None)
    link = Ros2Link(config(source="none"))
    with caplog.at_level(logging.WARNING):
        link.connect()
    try:
        assert link.cmd_topic == "/mvla/cmd_vel"
        link.send(Twist(0.1, 0.0, 0.0))
        assert "/cmd_vel" not in fake_ros.published
        assert link.warnings == [] and not caplog.records
    finally:
        link.close()


def test_direct_topic_warns_the_operator_once(fake_ros, caplog) -> None:
    link = Ros2Link(config(source="none"))
    with caplog.at_level(logging.WARNING):
        link.connect()
        for _ in range(3):
            link.send(Twist(0.1, 0.0, 0.0))
            link.stop()
    try:
        assert (
            len(link.warnings) == 1 and "no watchdog" in link.warnings[0] and "/cmd_vel" in link.warnings[0]
        )
        assert [r.getMessage() for r in caplog.records] == link.warnings
    finally:
        link.close()


class StubCamera:
    closed = 0

    def __init__(self, config, clock) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        StubCamera.closed += 1


def test_a_failing_stop_still_closes_the_camera_and_ros(fake_ros, monkeypatch) -> None:
    monkeypatch.setattr(ros2, "OpenCVCamera", StubCamera)
    StubCamera.closed = 0
    link = Ros2Link(config(source="opencv"))
    link.connect()

    def broken_publish(self, msg) -> None:
        raise RuntimeError("rcl publisher invalid")

    monkeypatch.setattr(robot_fake_ros.Publisher, "publish", broken_publish)
    with pytest.raises(RobotLinkError, match="rcl publisher invalid"):
        link.close()
    assert StubCamera.closed == 1 and not fake_ros.contexts[0].ok
    link.close()  # idempotent once closed


def test_required_watchdog_missing_fails_connect_and_cleans_up(fake_ros) -> None:
    cfg = config(source="none")
    cfg.ros2 = Ros2Config(require_watchdog=True, discovery_s=0.05)
    link = Ros2Link(cfg)
    with pytest.raises(RobotLinkError, match="mvla watchdog"):
        link.connect()
    assert not fake_ros.contexts[0].ok


def test_camera_service_image_as_rgb_and_reset(fake_ros) -> None:
    resets = []

    def get_image(request):
        response = robot_fake_ros.GetImage.Response()
        response.image = bgr8_image()
        return response

    fake_ros.services["get_image_service"] = get_image
    fake_ros.services["reset_camera_service"] = lambda request: resets.append(request) or object()
    link = Ros2Link(config(source="auto", rotate_180=True))
    link.connect()
    try:
        assert link.camera_mode == "service"
        frame = link.latest_frame()
        assert np.array_equal(frame.image, RGB[::-1, ::-1]) and not frame.synthetic
        link.reset_camera()
        assert len(resets) == 1
    finally:
        link.close()


def test_missing_camera_service_is_an_error(fake_ros) -> None:
    link = Ros2Link(config(source="service", startup_timeout_s=0.1))
    with pytest.raises(RobotLinkError, match="get_image_service did not appear"):
        link.connect()


def test_camera_service_that_does_not_answer(fake_ros) -> None:
    fake_ros.services["get_image_service"] = lambda request: None
    cfg = config(source="service")
    cfg.ros2 = Ros2Config(discovery_s=0.05, service_timeout_s=0.05)
    link = Ros2Link(cfg)
    link.connect()
    try:
        with pytest.raises(RobotLinkError, match="did not answer within"):
            link.latest_frame()
    finally:
        link.close()


def test_topic_camera_without_the_service_interface(fake_ros, monkeypatch) -> None:
    robot_fake_ros.without_camera_service(monkeypatch)
    link = Ros2Link(config(source="auto", topic="/cam/image_raw"))
    link.connect()
    try:
        assert link.camera_mode == "topic"
        assert link.latest_frame() is None and link.camera_hz is None  # still starting
        for _ in range(2):
            for callback in fake_ros.subscriptions["/cam/image_raw"]:
                callback(bgr8_image())
        assert np.array_equal(link.latest_frame().image, RGB)
        assert link.camera_hz is not None and link.camera_hz > 0
        bad = bgr8_image()
        bad.encoding = "16UC1"
        for callback in fake_ros.subscriptions["/cam/image_raw"]:
            callback(bad)
        with pytest.raises(RobotLinkError, match="16UC1"):
            link.latest_frame()
    finally:
        link.close()


def test_watchdog_node_relays_stops_on_silence_and_on_exit(fake_ros) -> None:
    from mvla_tui.robot.watchdog import run_watchdog

    out = fake_ros.published["/cmd_vel"]
    logs: list[str] = []
    link = Ros2Link(config(source="none"))

    def drive() -> None:
        try:
            deadline = time.monotonic() + 5
            while not fake_ros.subscriptions["/mvla/cmd_vel"] and time.monotonic() < deadline:
                time.sleep(0.01)
            link.connect()
            link.send(Twist(0.3, 0.0, 0.0))
            time.sleep(0.5)  # then silence for longer than the 0.2 s timeout, as if mvla had been killed
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # ends run_watchdog whatever happened here

    before = signal.getsignal(signal.SIGINT)
    driver = threading.Thread(target=drive)
    driver.start()
    run_watchdog(0.2, "/mvla/cmd_vel", "/cmd_vel", log=logs.append)
    driver.join(timeout=5)
    assert link.cmd_topic == "/mvla/cmd_vel"
    link.close()
    sent = [twist_from_msg(m) for m in out]
    assert sent[0] == Twist(0.3, 0.0, 0.0)
    # The timeout stop after 0.2 s, its repeats every 0.1 s during the remaining ~0.3 s, then the exit stop.
    assert 4 <= len(sent) <= 6 and all(t.is_zero for t in sent[1:])
    assert ("/cmd_vel", ros2.FLUSH_S) in fake_ros.flushes
    stops = [line for line in logs if "stop: no command on /mvla/cmd_vel" in line]
    assert len(stops) == 1 and "after 1 twist" in stops[0]
    assert "SIGINT" in logs[-1] and "relayed 1 twists, 1 timeout stop)" in logs[-1]
    assert signal.getsignal(signal.SIGINT) == before
