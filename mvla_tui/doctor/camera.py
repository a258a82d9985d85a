"""The camera check: does the camera answer, at what rate and size? For the fake and the simulator it
asks the link itself; for the real robot's OpenCV camera it opens it briefly; the ROS 2 service and topic
are probed by `mvla_tui.doctor.ros` and judged here (`camera_verdict`), so every source is judged alike.

A camera slower than one frame per policy step (`policy.period_s`) means the policy sees old images; a
streaming camera (topic, OpenCV) under half its configured fps is also a warning. Frames of a size other
than the robot config's are a warning: the disk estimate and the CSI pipeline use the config's size.
It never sends a twist (the links' `close` sends their stop, which the fake and the sim may).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mvla_tui.doctor.checks import Check, fail, ok, warn
from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.link import Frame, RobotLink, RobotLinkError

NAME = "camera"
MAX_FRAMES = 10  # an on-demand camera is asked this many times (or for the window, whichever is first)


@dataclass(frozen=True)
class CameraProbe:
    """What a probe saw: a description of the source, the last frame, the rate (None: unknown)."""

    source: str  # e.g. "service get_image_service", "topic /camera/image_raw", "fake camera"
    frame: Frame | None
    rate_hz: float | None
    streaming: bool  # frames arrive by themselves (topic, OpenCV), rather than when asked
    error: str | None = None
    latency_ms: float | None = None  # on-demand sources: mean time one frame took


def camera_verdict(probe: CameraProbe, config: RobotConfig, fix: str) -> Check:
    """The camera line for what `probe` saw; `fix` is what to do when it gave nothing."""
    if probe.error is not None:
        return fail(NAME, f"{probe.source}: {probe.error}", fix)
    if probe.frame is None:
        return fail(NAME, f"{probe.source}: no frame", fix)
    height, width = probe.frame.image.shape[:2]
    want_w, want_h = config.camera_size
    parts = [f"{probe.source}: {width}x{height} frames"]
    if probe.rate_hz is not None:
        parts.append(f"at {probe.rate_hz:.1f} Hz")
    if probe.latency_ms is not None:
        parts.append(f"({probe.latency_ms:.0f} ms each)")
    if probe.frame.synthetic:
        parts.append("(synthetic: the fake robot's test card)")
    detail = " ".join(parts)
    period = config.policy.period_s
    if probe.rate_hz is not None and probe.rate_hz < 1.0 / period:
        return warn(
            NAME,
            f"{detail}: slower than one frame per policy step ({period:g} s), so a policy sees old images",
            "check the camera's load and link (ros2 topic hz / a lower resolution), or raise policy.period_s",
        )
    fps = config.camera.fps
    if config.kind == "ros2" and probe.streaming and probe.rate_hz is not None and probe.rate_hz < fps / 2:
        return warn(
            NAME,
            f"{detail}: under half the configured {fps} fps",
            "check the camera driver's frame rate, or set camera.fps to what it gives "
            f"(--set camera.fps={max(1, round(probe.rate_hz))})",
        )
    if (width, height) != (want_w, want_h):
        return warn(
            NAME,
            f"{detail}, but the robot config says {want_w}x{want_h}",
            "set the camera size in the robot config to what the camera gives "
            f"(e.g. --set camera.width={width} --set camera.height={height}), or reconfigure the camera",
        )
    return ok(NAME, detail)


def probe_link(
    link: RobotLink,
    source: str,
    window_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> CameraProbe:
    """Connect `link`, ask it for frames for up to `window_s` (at most `MAX_FRAMES`), close it."""
    frames: list[tuple[float, Frame]] = []
    try:
        link.connect()
        try:
            start = clock()
            while len(frames) < MAX_FRAMES and clock() - start < window_s:
                frame = link.latest_frame()
                if frame is None:  # a real-time camera still starting
                    time.sleep(0.02)
                    continue
                frames.append((clock(), frame))
            elapsed = clock() - start
        finally:
            link.close()
    except RobotLinkError as exc:
        return CameraProbe(source, None, None, streaming=False, error=str(exc))
    if not frames:
        return CameraProbe(source, None, None, streaming=False, error=f"no frame within {window_s:g} s")
    hz = link.camera_hz
    rate = hz if hz is not None else len(frames) / elapsed if elapsed > 0 else None
    latency = None if hz is not None else 1000.0 * elapsed / len(frames)
    return CameraProbe(source, frames[-1][1], rate, streaming=hz is not None, latency_ms=latency)


def probe_opencv(config: RobotConfig, wait_s: float, window_s: float, camera_factory=None) -> CameraProbe:
    """Open the robot's OpenCV camera (`camera.source: opencv`), wait for frames, measure, close it."""
    from mvla_tui.robot.camera import OpenCVCamera

    camera = (camera_factory or OpenCVCamera)(config.camera)
    source = camera.name
    try:
        camera.open()
        try:
            deadline = time.monotonic() + wait_s
            frame = camera.latest_frame()
            while frame is None and time.monotonic() < deadline:
                time.sleep(0.05)
                frame = camera.latest_frame()
            if frame is None:
                return CameraProbe(source, None, None, True, error=f"no frame within {wait_s:g} s")
            time.sleep(window_s)
            frame = camera.latest_frame()
            rate = camera.slot.rate_hz()
        finally:
            camera.close()
    except RobotLinkError as exc:
        return CameraProbe(source, None, None, True, error=str(exc))
    return CameraProbe(source, frame, rate, streaming=True)


def opencv_fix(config: RobotConfig) -> str:
    return (
        f"check camera.opencv ({config.camera.opencv}); the CSI camera needs an OpenCV built with GStreamer "
        "(the L4T image's), and nothing else may hold the camera (a running mvla does)"
    )
