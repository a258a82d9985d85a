"""Camera images to the in-memory convention (RGB uint8 H x W x 3), with numpy only (no cv_bridge).

Owns, for the links, the conversion of OpenCV BGR frames and the optional 180 degree rotation; the
`sensor_msgs/Image` and JPEG/PNG `CompressedImage` payloads are decoded by `recorder.ros_images` (which
the rosbag importer shares) and their failures become `RobotLinkError` here. Pure functions: it must not
import rclpy, and a payload it cannot convert is a `RobotLinkError`, never a substitute image.
"""

from __future__ import annotations

import numpy as np

from mvla_tui.robot.link import RobotLinkError
from recorder import ros_images

CHANNELS = ros_images.CHANNELS


def raw_to_rgb(
    encoding: str, height: int, width: int, step: int, data: bytes | bytearray | memoryview | np.ndarray
) -> np.ndarray:
    """A `sensor_msgs/Image` payload as an RGB uint8 (H, W, 3) array; `step` is the row length in bytes."""
    try:
        return ros_images.raw_to_rgb(encoding, height, width, step, data)
    except ros_images.ImagePayloadError as exc:
        raise RobotLinkError(str(exc)) from None


def compressed_to_rgb(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A `CompressedImage` payload (JPEG or PNG) as an RGB uint8 (H, W, 3) array."""
    try:
        return ros_images.compressed_to_rgb(data)
    except ros_images.ImagePayloadError as exc:
        raise RobotLinkError(str(exc)) from None


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
