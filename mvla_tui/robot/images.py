"""Camera images to the in-memory convention (RGB uint8 H x W x 3), with numpy only (no cv_bridge).

Owns the conversion of `sensor_msgs/Image` payloads (`bgr8`, `rgb8`, `mono8`, any row stride), JPEG/PNG
`CompressedImage` payloads and OpenCV BGR frames, plus the optional 180 degree rotation. Pure functions:
it must not import rclpy, and a payload it cannot convert is a `RobotLinkError`, never a substitute image.
"""

from __future__ import annotations

import numpy as np

from mvla_tui.robot.link import RobotLinkError

CHANNELS = {"bgr8": 3, "rgb8": 3, "mono8": 1}


def raw_to_rgb(
    encoding: str, height: int, width: int, step: int, data: bytes | bytearray | memoryview | np.ndarray
) -> np.ndarray:
    """A `sensor_msgs/Image` payload as an RGB uint8 (H, W, 3) array; `step` is the row length in bytes."""
    channels = CHANNELS.get(encoding)
    if channels is None:
        raise RobotLinkError(
            f"camera image encoding {encoding!r} is not supported; publish bgr8, rgb8 or mono8"
        )
    row = width * channels
    if height < 1 or width < 1 or step < row:
        raise RobotLinkError(
            f"camera image {width}x{height} {encoding} has a row step of {step} bytes (< {row})"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size < step * height:
        raise RobotLinkError(
            f"camera image {width}x{height} {encoding}: {buf.size} bytes, expected {step * height}"
        )
    # Rows may be padded beyond width * channels; cut the padding off before reshaping the pixels.
    pixels = buf[: step * height].reshape(height, step)[:, :row].reshape(height, width, channels)
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    return pixels.copy()  # rgb8: copy so the array does not keep the message buffer alive


def compressed_to_rgb(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A `CompressedImage` payload (JPEG or PNG) as an RGB uint8 (H, W, 3) array."""
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if bgr is None:
        raise RobotLinkError(
            f"compressed camera image ({buf.size} bytes) could not be decoded as JPEG or PNG"
        )
    return np.ascontiguousarray(bgr[..., ::-1])


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    """An OpenCV frame (BGR, or grey H x W) as RGB uint8 (H, W, 3)."""
    if frame.ndim == 2:
        return np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
        raise RobotLinkError(
            f"camera frame of shape {frame.shape} {frame.dtype} is not an 8-bit colour image"
        )
    return np.ascontiguousarray(frame[..., 2::-1])


def rotate_180(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[::-1, ::-1])
