"""Camera payloads to RGB uint8: ROS encodings with padded rows, compressed images, OpenCV frames, rotation."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from mvla_tui.robot.images import bgr_to_rgb, compressed_to_rgb, raw_to_rgb, rotate_180
from mvla_tui.robot.link import RobotLinkError
from mvla_tui.robot.ros_messages import compressed_msg_to_rgb, image_msg_to_rgb

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def padded(pixels: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Rows of `pixels` followed by `pad` junk bytes each, as some camera drivers publish them."""
    h = pixels.shape[0]
    rows = pixels.reshape(h, -1)
    junk = np.full((h, pad), 77, dtype=np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    return data.tobytes(), data.shape[1]


@pytest.mark.parametrize("pad", [0, 3])
def test_bgr8_and_rgb8_become_rgb(pad: int) -> None:
    data, step = padded(RGB[..., ::-1].copy(), pad)
    assert np.array_equal(raw_to_rgb("bgr8", 5, 7, step, data), RGB)
    data, step = padded(RGB, pad)
    out = raw_to_rgb("rgb8", 5, 7, step, data)
    assert np.array_equal(out, RGB) and out.flags.c_contiguous


def test_mono8_becomes_grey_rgb() -> None:
    grey = RGB[..., 0].copy()
    data, step = padded(grey, 1)
    out = raw_to_rgb("mono8", 5, 7, step, data)
    assert out.shape == (5, 7, 3) and all(np.array_equal(out[..., c], grey) for c in range(3))


def test_image_message_is_read_through_its_fields() -> None:
    msg = SimpleNamespace(
        encoding="bgr8", height=5, width=7, step=21, data=RGB[..., ::-1].tobytes(), is_bigendian=0
    )
    assert np.array_equal(image_msg_to_rgb(msg), RGB)


@pytest.mark.parametrize(
    ("encoding", "step", "size", "message"),
    [
        ("yuv422", 14, 70, "not supported"),
        ("rgb8", 20, 200, "row step"),
        ("rgb8", 21, 50, "expected 105"),
    ],
)
def test_unreadable_images_are_errors_not_substitutes(
    encoding: str, step: int, size: int, message: str
) -> None:
    with pytest.raises(RobotLinkError, match=message):
        raw_to_rgb(encoding, 5, 7, step, bytes(size))


def test_compressed_png_round_trip_and_garbage() -> None:
    ok, png = cv2.imencode(".png", RGB[..., ::-1])
    assert ok
    assert np.array_equal(compressed_to_rgb(png.tobytes()), RGB)
    assert np.array_equal(compressed_msg_to_rgb(SimpleNamespace(format="png", data=png.tobytes())), RGB)
    with pytest.raises(RobotLinkError, match="could not be decoded"):
        compressed_to_rgb(b"not a jpeg")


def test_compressed_jpeg_keeps_colour_order() -> None:
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[..., 0] = 250  # pure red in RGB
    ok, jpg = cv2.imencode(".jpg", image[..., ::-1])
    out = compressed_to_rgb(jpg.tobytes())
    assert ok and out[..., 0].mean() > 200 and out[..., 2].mean() < 50


def test_opencv_frames_and_rotation() -> None:
    assert np.array_equal(bgr_to_rgb(RGB[..., ::-1].copy()), RGB)
    bgra = np.concatenate([RGB[..., ::-1], np.zeros((5, 7, 1), np.uint8)], axis=2)
    assert np.array_equal(bgr_to_rgb(bgra), RGB)
    assert bgr_to_rgb(RGB[..., 0]).shape == (5, 7, 3)
    with pytest.raises(RobotLinkError):
        bgr_to_rgb(RGB.astype(np.float32))
    rotated = rotate_180(RGB)
    assert np.array_equal(rotated[0, 0], RGB[-1, -1]) and np.array_equal(rotate_180(rotated), RGB)
