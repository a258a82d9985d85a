"""`FakeLink`: the robot of tests and `--robot fake`.

It records every twist it is sent, with the time, in `sent` (and optionally as JSON lines in a file, so a
test can read what a killed child process sent), serves synthetic frames that say so (`Frame.synthetic` and
a "FAKE ROBOT" label drawn on the image), and can be told to fail, to report a collision (`collision`), or to
serve frames taken `fake.frame_lag_s` before they are read (a late camera). It must not pretend to be a
camera: its frames are marked so that whoever records them can tell (it refuses nothing itself).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.link import STOP, Frame, RobotLinkError, SimulatedTime, Twist
from mvla_tui.robot.safety import clamp_twist


@dataclass(frozen=True)
class SentTwist:
    t: float  # link clock, seconds
    twist: Twist
    kind: str  # "send" or "stop"


class FakeLink:
    def __init__(
        self, config: RobotConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.robot_config = config or RobotConfig(kind="fake")
        self.config = self.robot_config.fake
        self.limits = self.robot_config.limits
        self.clock = clock
        self.warnings: list[str] = []
        self.sent: list[SentTwist] = []
        self.connected = False
        self.closed = False
        self.frames_served = 0
        # Failure injection: an exception to raise from the next sends / frames (None: work normally).
        self.send_error: BaseException | None = None
        self.frame_error: BaseException | None = None
        self.connect_error: BaseException | None = None
        self.collision: str | None = None  # what the robot "touched": set by a test
        # RLock: stop() may run inside a signal handler that interrupted this very thread in send().
        self._lock = threading.RLock()

    def simulated_time(self) -> SimulatedTime | None:
        """The wall clock."""
        return None

    @property
    def camera_hz(self) -> float | None:
        """The fake has no camera that runs by itself: it draws a card when asked."""
        return None

    @property
    def last_twist(self) -> Twist | None:
        with self._lock:
            return self.sent[-1].twist if self.sent else None

    def connect(self) -> None:
        if self.connect_error is not None:
            raise self.connect_error
        self.connected = True
        self.closed = False

    def send(self, twist: Twist) -> Twist:
        if not self.connected:
            raise RobotLinkError("fake robot: send() before connect()")
        if self.send_error is not None:
            raise self.send_error
        twist = clamp_twist(twist, self.limits)
        self._record(twist, "send")
        return twist

    def stop(self) -> None:
        if self.connected:
            self._record(STOP, "stop")

    def latest_frame(self, not_before: float | None = None) -> Frame | None:
        if not self.connected:
            raise RobotLinkError("fake robot: latest_frame() before connect()")
        if self.frame_error is not None:
            raise self.frame_error
        self.frames_served += 1
        stamp = self.clock() - self.config.frame_lag_s
        return Frame(synthetic_image(self.config.width, self.config.height, self.frames_served), stamp, True)

    def close(self) -> None:
        self.stop()
        self.connected = False
        self.closed = True

    def _record(self, twist: Twist, kind: str) -> None:
        with self._lock:
            entry = SentTwist(self.clock(), twist, kind)
            self.sent.append(entry)
            if self.config.log_path is not None:
                line = {
                    "t": entry.t,
                    "twist": [twist.linear_x, twist.linear_y, twist.angular_z],
                    "kind": kind,
                }
                with Path(self.config.log_path).open("a", encoding="utf-8") as log:
                    log.write(json.dumps(line) + "\n")


def synthetic_image(width: int, height: int, index: int) -> np.ndarray:
    """An RGB test card that no one could take for a camera image: magenta border, "FAKE ROBOT" label and a
    bar that moves with `index` so consecutive frames differ."""
    import cv2

    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:] = (40, 40, 40)
    border = max(2, min(width, height) // 40)
    for edge in (image[:border], image[-border:], image[:, :border], image[:, -border:]):
        edge[:] = (255, 0, 255)
    x = border + (index * 7) % max(1, width - 2 * border - 8)
    image[height // 2 :, x : x + 8] = (0, 200, 255)
    scale = max(0.4, width / 640)
    cv2.putText(
        image, "FAKE ROBOT", (border * 3, height // 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2
    )
    cv2.putText(
        image,
        f"frame {index}",
        (border * 3, height // 3 + int(30 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale * 0.6,
        (255, 255, 255),
        1,
    )
    return image
