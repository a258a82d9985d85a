"""Camera threads and timeouts with an injected capture and clock: the newest frame, converted to RGB and
rotated when asked; an error (never a made-up frame) when the camera is late, stalls, fails or cannot open."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mvla_tui.robot.camera import FrameSlot, OpenCVCamera, capture_source
from mvla_tui.robot.config import CameraConfig
from mvla_tui.robot.link import RobotLinkError


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class ScriptedCapture:
    """Serves the given BGR frames, then reports failed reads (a stalled camera)."""

    def __init__(self, frames: list[np.ndarray], opened: bool = True, error: Exception | None = None) -> None:
        self.frames = list(frames)
        self.opened = opened
        self.error = error
        self.released = False
        self.served = threading.Event()

    def isOpened(self) -> bool:  # noqa: N802
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.frames:
            frame = self.frames.pop(0)
            if not self.frames:
                self.served.set()
            return True, frame
        if self.error is not None:
            raise self.error
        time.sleep(0.001)
        return False, None

    def release(self) -> None:
        self.released = True


def bgr(value: int) -> np.ndarray:
    frame = np.zeros((4, 6, 3), dtype=np.uint8)
    frame[..., 0] = value  # blue channel in BGR
    frame[0, 0] = (1, 2, 3)
    return frame


def open_camera(capture: ScriptedCapture, clock: Clock, **config) -> OpenCVCamera:
    cfg = CameraConfig(source="opencv", opencv="0", startup_timeout_s=2.0, frame_timeout_s=1.0, **config)
    camera = OpenCVCamera(cfg, capture_factory=lambda _cfg: capture, clock=clock)
    camera.open()
    return camera


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_newest_frame_in_rgb_then_error_when_it_gets_old() -> None:
    clock = Clock()
    capture = ScriptedCapture([bgr(10), bgr(20), bgr(30)])
    camera = open_camera(capture, clock)
    try:
        wait_until(lambda: camera.slot.count == 3)
        frame = camera.latest_frame()
        assert frame is not None and not frame.synthetic
        assert frame.image[1, 1].tolist() == [0, 0, 30]  # BGR blue -> RGB blue, newest frame
        assert frame.image[0, 0].tolist() == [3, 2, 1]
        clock.t = 0.9
        assert camera.latest_frame() is frame
        clock.t = 1.5
        with pytest.raises(RobotLinkError, match="camera stalled"):
            camera.latest_frame()
    finally:
        camera.close()
    assert capture.released


def test_rotation_180() -> None:
    clock = Clock()
    camera = open_camera(ScriptedCapture([bgr(5)]), clock, rotate_180=True)
    try:
        wait_until(lambda: camera.slot.count == 1)
        assert camera.latest_frame().image[-1, -1].tolist() == [3, 2, 1]
    finally:
        camera.close()


def test_no_frame_yet_is_none_until_the_startup_timeout() -> None:
    clock = Clock()
    camera = open_camera(ScriptedCapture([]), clock)
    try:
        assert camera.latest_frame() is None
        clock.t = 2.5
        with pytest.raises(RobotLinkError, match="no frame within 2 s"):
            camera.latest_frame()
    finally:
        camera.close()


def test_read_exception_reaches_the_reader() -> None:
    clock = Clock()
    camera = open_camera(ScriptedCapture([], error=OSError("device unplugged")), clock)
    try:
        wait_until(lambda: camera.slot._error is not None)
        with pytest.raises(RobotLinkError, match="device unplugged"):
            camera.latest_frame()
    finally:
        camera.close()


def test_camera_that_cannot_open_is_one_line_error() -> None:
    capture = ScriptedCapture([], opened=False)
    camera = OpenCVCamera(CameraConfig(opencv="/dev/video7"), capture_factory=lambda _cfg: capture)
    with pytest.raises(RobotLinkError, match="/dev/video7: cannot open") as info:
        camera.open()
    assert "\n" not in str(info.value) and capture.released


def test_not_opened_camera_is_an_error() -> None:
    with pytest.raises(RobotLinkError, match="not open"):
        OpenCVCamera(CameraConfig(opencv="0")).latest_frame()


def test_frame_slot_restart_forgets_old_frames() -> None:
    clock = Clock()
    slot = FrameSlot("cam", startup_timeout_s=1.0, frame_timeout_s=0.5, clock=clock)
    slot.put(np.zeros((2, 2, 3), np.uint8))
    assert slot.get() is not None
    slot.restart()
    assert slot.get() is None


def test_frame_slot_measures_the_camera_rate_and_drops_to_zero_when_it_stalls() -> None:
    clock = Clock()
    slot = FrameSlot("cam", startup_timeout_s=1.0, frame_timeout_s=0.5, clock=clock)
    assert slot.rate_hz() is None  # nothing yet
    for k in range(31):  # 15 Hz for 2 s
        clock.t = k / 15
        slot.put(np.zeros((2, 2, 3), np.uint8))
    assert slot.rate_hz() == pytest.approx(15.0)
    clock.t = 2.0 + 0.4
    assert slot.rate_hz() == pytest.approx(15.0) and slot.get() is not None
    clock.t = 2.0 + 0.6  # the newest frame is older than frame_timeout_s: stalled, and the rate says so
    assert slot.rate_hz() == 0.0
    with pytest.raises(RobotLinkError, match="stalled"):
        slot.get()
    slot.restart()
    assert slot.rate_hz() is None


def test_capture_sources() -> None:
    pipeline, backend = capture_source(CameraConfig())
    assert backend == "gstreamer" and pipeline.startswith("nvarguscamerasrc sensor-id=0 ")
    assert "width=1280, height=720" in pipeline and "appsink" in pipeline
    assert capture_source(CameraConfig(opencv="1")) == (1, "v4l2")
    assert capture_source(CameraConfig(opencv="/dev/video2")) == ("/dev/video2", "v4l2")
    custom = "v4l2src device=/dev/video0 ! videoconvert ! appsink"
    assert capture_source(CameraConfig(opencv=custom)) == (custom, "gstreamer")


def test_real_opencv_on_a_missing_device_is_one_line_error() -> None:
    camera = OpenCVCamera(CameraConfig(opencv="/dev/video99"))
    with pytest.raises(RobotLinkError, match="camera /dev/video99: cannot open; is the device connected"):
        camera.open()
