"""ROS 2 camera payloads to the in-memory convention (RGB uint8 H x W x 3), with numpy and OpenCV only.

Owns the decoding of `sensor_msgs/Image` payloads (`bgr8`, `rgb8`, `mono8`, any row stride) and of
JPEG/PNG `sensor_msgs/CompressedImage` payloads, for the two readers of such messages: the ROS 2 link
(`mvla_tui.robot.images`, live) and the rosbag importer (`recorder.interop.rosbag_import`, from a file).
Here, in `recorder`, because the recorder must not import `mvla_tui` while the link may import the
recorder. Pure functions: no rclpy, no message classes; a payload that cannot be converted raises
`ImagePayloadError` (each caller turns it into its own error type), never a substitute image.
"""

from __future__ import annotations

import numpy as np

CHANNELS = {"bgr8": 3, "rgb8": 3, "mono8": 1}


class ImagePayloadError(ValueError):
    """A payload that is not an image we can read; the message says why in one line."""


def raw_to_rgb(
    encoding: str, height: int, width: int, step: int, data: bytes | bytearray | memoryview | np.ndarray
) -> np.ndarray:
    """A `sensor_msgs/Image` payload as an RGB uint8 (H, W, 3) array; `step` is the row length in bytes."""
    channels = CHANNELS.get(encoding)
    if channels is None:
        raise ImagePayloadError(
            f"camera image encoding {encoding!r} is not supported; publish bgr8, rgb8 or mono8"
        )
    row = width * channels
    if height < 1 or width < 1 or step < row:
        raise ImagePayloadError(
            f"camera image {width}x{height} {encoding} has a row step of {step} bytes (< {row})"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size < step * height:
        raise ImagePayloadError(
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
        raise ImagePayloadError(
            f"compressed camera image ({buf.size} bytes) could not be decoded as JPEG or PNG"
        )
    return np.ascontiguousarray(bgr[..., ::-1])
