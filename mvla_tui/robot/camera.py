"""Cameras read on their own thread: `FrameSlot` (newest frame + timeouts) and `OpenCVCamera` (V4L2 or GStreamer).

`FrameSlot` is the rclpy-free heart of every camera here: a producer puts frames, readers get the newest
one, and a frame that is missing or too old is a `RobotLinkError` naming the camera, never a made-up image
(so a camera that stops is an error, never a frozen old frame fed to a policy). It also measures the rate
frames arrive at (`RateMeter`), which drops to 0 when the camera stalls.
`OpenCVCamera` opens a V4L2 device or a GStreamer pipeline (the Jetson CSI camera by default, see
`config.CSI_PIPELINE`), converts BGR to RGB, optionally rotates 180 degrees, and keeps only the newest frame.
The capture object is injectable so the thread and timeout logic is tested without a camera.
This module must not import rclpy or textual.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from mvla_tui.robot.config import CSI_PIPELINE, CameraConfig
from mvla_tui.robot.images import bgr_to_rgb, rotate_180
from mvla_tui.robot.link import Frame, RobotLinkError


class RateMeter:
    """Arrivals per second over the last `window_s` seconds, from arrival times on one clock.

    `rate(now)` is None before anything arrived and 0.0 when fewer than two arrivals fall in the window
    (the source stalled); otherwise (arrivals - 1) / (newest - oldest) within the window. Not thread-safe:
    its owner locks it.
    """

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._stamps: deque[float] = deque()
        self._seen = False

    def add(self, stamp: float) -> None:
        self._stamps.append(stamp)
        self._seen = True
        self._prune(stamp)

    def reset(self) -> None:
        self._stamps.clear()
        self._seen = False

    @property
    def newest(self) -> float | None:
        return self._stamps[-1] if self._stamps else None

    def rate(self, now: float) -> float | None:
        self._prune(now)
        if not self._seen:
            return None
        if len(self._stamps) < 2 or self._stamps[-1] <= self._stamps[0]:
            return 0.0
        return (len(self._stamps) - 1) / (self._stamps[-1] - self._stamps[0])

    def _prune(self, now: float) -> None:
        while self._stamps and self._stamps[0] < now - self.window_s:
            self._stamps.popleft()


class FrameSlot:
    """The newest frame of one camera, shared between its producer thread and readers."""

    def __init__(
        self,
        name: str,
        startup_timeout_s: float,
        frame_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.startup_timeout_s = startup_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._error: str | None = None
        self._started_at = clock()
        self._rate = RateMeter()
        self.count = 0

    def restart(self) -> None:
        """Forget the last frame and error; the startup timeout counts again (after a camera reset)."""
        with self._lock:
            self._frame, self._error, self._started_at = None, None, self.clock()
            self._rate.reset()

    def put(self, image: np.ndarray, stamp: float | None = None) -> None:
        arrived = self.clock()
        frame = Frame(image, arrived if stamp is None else stamp)
        with self._lock:
            self._frame = frame
            self._rate.add(arrived)
            self.count += 1

    def rate_hz(self) -> float | None:
        """Frames per second that arrived over the last two seconds; None before any; 0.0 once the newest
        is older than `frame_timeout_s` (when `get` calls the camera stalled)."""
        now = self.clock()
        with self._lock:
            if self._rate.newest is not None and now - self._rate.newest > self.frame_timeout_s:
                return 0.0
            return self._rate.rate(now)

    def fail(self, message: str) -> None:
        """The producer cannot go on; every later `get` raises this message."""
        with self._lock:
            self._error = message

    def get(self) -> Frame | None:
        """The newest frame; None while the camera is still starting; `RobotLinkError` when it is late."""
        now = self.clock()
        with self._lock:
            frame, error, started = self._frame, self._error, self._started_at
        if error is not None:
            raise RobotLinkError(f"{self.name}: {error}")
        if frame is None:
            if now - started > self.startup_timeout_s:
                raise RobotLinkError(
                    f"{self.name}: no frame within {self.startup_timeout_s:g} s; check the camera"
                )
            return None
        age = now - frame.stamp
        if age > self.frame_timeout_s:
            raise RobotLinkError(
                f"{self.name}: last frame is {age:.1f} s old (timeout {self.frame_timeout_s:g} s); camera stalled"
            )
        return frame


class Capture(Protocol):
    """The part of `cv2.VideoCapture` the camera thread uses."""

    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


def capture_source(config: CameraConfig) -> tuple[str | int, str]:
    """What to open for `config.opencv` and with which OpenCV backend: ("gstreamer" | "v4l2")."""
    spec = config.opencv.strip()
    if spec == "csi":
        pipeline = CSI_PIPELINE.format(
            sensor_id=config.sensor_id, width=config.width, height=config.height, fps=config.fps
        )
        return pipeline, "gstreamer"
    if "!" in spec:
        return spec, "gstreamer"
    if spec.isdigit():
        return int(spec), "v4l2"
    return spec, "v4l2"


def open_cv2_capture(config: CameraConfig) -> Capture:
    import cv2

    source, backend = capture_source(config)
    if backend == "gstreamer":
        return cv2.VideoCapture(source, cv2.CAP_GSTREAMER)
    capture = cv2.VideoCapture(source, cv2.CAP_V4L2)
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
    capture.set(cv2.CAP_PROP_FPS, config.fps)
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver from queueing stale frames
    return capture


class OpenCVCamera:
    """A camera opened directly with OpenCV, read on a background thread that keeps the newest frame."""

    def __init__(
        self,
        config: CameraConfig,
        *,
        capture_factory: Callable[[CameraConfig], Capture] = open_cv2_capture,
        clock: Callable[[], float] = time.monotonic,
        retry_s: float = 0.01,
    ) -> None:
        self.config = config
        self.capture_factory = capture_factory
        self.clock = clock
        self.retry_s = retry_s  # pause after a failed read, so a dead device does not spin a core
        source, backend = capture_source(config)
        self.name = (
            f"camera {source}" if backend == "v4l2" else f"camera ({config.opencv} {backend} pipeline)"
        )
        self.slot = FrameSlot(self.name, config.startup_timeout_s, config.frame_timeout_s, clock)
        self._capture: Capture | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def open(self) -> None:
        if self._thread is not None:
            return
        capture = self.capture_factory(self.config)
        if not capture.isOpened():
            capture.release()
            hint = (
                "is OpenCV built with GStreamer?" if "pipeline" in self.name else "is the device connected?"
            )
            raise RobotLinkError(f"{self.name}: cannot open; {hint} Set camera.opencv in the robot config")
        self._capture = capture
        self._stop.clear()
        self.slot.restart()
        self._thread = threading.Thread(target=self._read_loop, name="mvla-camera", daemon=True)
        self._thread.start()

    def latest_frame(self) -> Frame | None:
        if self._thread is None:
            raise RobotLinkError(f"{self.name}: not open")
        return self.slot.get()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _read_loop(self) -> None:
        capture = self._capture
        assert capture is not None
        while not self._stop.is_set():
            try:
                ok, image = capture.read()
            except Exception as exc:  # cv2.error and driver errors: hand them to the reader, then stop
                self.slot.fail(f"read failed ({exc})")
                return
            if not ok or image is None:
                # A read can fail while the camera settles; the slot's timeout turns a lasting failure into
                # a visible error for the reader, so this thread just keeps trying.
                self._stop.wait(self.retry_s)
                continue
            try:
                rgb = bgr_to_rgb(image)
            except RobotLinkError as exc:
                self.slot.fail(str(exc))
                return
            self.slot.put(rotate_180(rgb) if self.config.rotate_180 else rgb)
