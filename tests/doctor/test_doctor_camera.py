"""The doctor's camera line for the cameras it opens itself: the robot's OpenCV camera (a stand-in
capture: frames at a rate, or a device that does not open) and a link whose camera fails."""

from __future__ import annotations

import time

import numpy as np

from mvla_tui.doctor.camera import camera_verdict, opencv_fix, probe_link, probe_opencv
from mvla_tui.robot.camera import OpenCVCamera
from mvla_tui.robot.config import CameraConfig, FakeConfig, RobotConfig
from mvla_tui.robot.fake import FakeLink
from mvla_tui.robot.link import RobotLinkError

OPENCV = RobotConfig(camera=CameraConfig(source="opencv", opencv="0", width=32, height=24, fps=30))


class Capture:
    def __init__(self, opened: bool = True, hz: float = 30.0) -> None:
        self.opened, self.period = opened, 1.0 / hz

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self.opened

    def read(self):
        time.sleep(self.period)
        return True, np.zeros((24, 32, 3), np.uint8)

    def release(self) -> None:
        self.opened = False


def camera_with(capture: Capture):
    return lambda config: OpenCVCamera(config, capture_factory=lambda _c: capture)


def test_opencv_camera_rate_and_size() -> None:
    probe = probe_opencv(OPENCV, 1.0, 0.5, camera_factory=camera_with(Capture(hz=30)))
    check = camera_verdict(probe, OPENCV, opencv_fix(OPENCV))
    assert check.status == "ok", check
    assert check.detail.startswith("camera 0: 32x24 frames at ")


def test_opencv_camera_that_does_not_open() -> None:
    probe = probe_opencv(OPENCV, 1.0, 0.5, camera_factory=camera_with(Capture(opened=False)))
    check = camera_verdict(probe, OPENCV, opencv_fix(OPENCV))
    assert check.status == "fail" and "cannot open" in check.detail
    assert "nothing else may hold the camera" in check.fix


def test_a_link_whose_camera_fails() -> None:
    config = RobotConfig(kind="fake", fake=FakeConfig(width=32, height=24))
    link = FakeLink(config)
    link.frame_error = RobotLinkError("fake robot: camera unplugged")
    check = camera_verdict(probe_link(link, "fake camera", 0.2), config, "plug it in")
    assert check.status == "fail" and check.detail == "fake camera: fake robot: camera unplugged"
    assert check.fix == "plug it in" and link.closed
