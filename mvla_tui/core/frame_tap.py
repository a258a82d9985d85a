"""`FrameTap`: the newest camera frame for a display, taken on the control thread a few times a second.

The link belongs to the control thread, so the app never calls it: this part copies a reference to the
newest frame into `latest` at most `rate_hz` times a second while `enabled`, and counts the frames it saw
to report the camera's rate. Reading `latest` from another thread is safe (one reference assignment).
Disable it on a slow SSH link or when a camera service call is expensive. No textual here.
"""

from __future__ import annotations

from collections import deque

from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.link import Frame


class FrameTap(LoopPart):
    def __init__(self, loop: ControlLoop, rate_hz: float = 4.0) -> None:
        self.loop = loop
        self.period = 1.0 / rate_hz
        self.enabled = True
        self.latest: Frame | None = None
        self._next = float("-inf")
        self._stamps: deque[float] = deque(maxlen=20)

    def on_tick(self, now: float) -> None:
        if not self.enabled or now < self._next:
            return
        self._next = now + self.period
        frame = self.loop.capture_frame()
        if frame is not None and (self.latest is None or frame.stamp != self.latest.stamp):
            self.latest = frame
            self._stamps.append(frame.stamp)

    def next_due(self, now: float) -> float | None:
        return self._next if self.enabled else None

    @property
    def rate_hz(self) -> float | None:
        """New frames per second seen by the tap (at most its own rate), None before two."""
        stamps = self._stamps
        if len(stamps) < 2 or stamps[-1] <= stamps[0]:
            return None
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])
