"""What the control loop tells the rest of the program: `RobotState` snapshots, `Step` records, and the
rate limit on how often snapshots go out.

A snapshot is immutable and cheap to build; the UI may keep it as long as it likes. `StateEmitter` hands
at most `rate_hz` snapshots per second to its callback (plus forced ones: the first and the last), so a
loop that ticks every few milliseconds does not flood a terminal. This module holds no behaviour of the
robot and must not import a link, rclpy or textual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from mvla_tui.robot.config import Mode
from mvla_tui.robot.link import Frame, Twist
from recorder.catalogue import EventType


@dataclass(frozen=True)
class RobotState:
    """The robot side of a snapshot. `twist` is the last command the link accepted (after throttle and
    clamping)."""

    t: float  # loop clock, seconds
    running: bool
    mode: Mode
    estop: bool
    throttle: int  # percent
    moving: bool
    source: str | None  # "teleop" or "policy" while moving
    twist: Twist
    action: tuple[float, float, float] | None  # recorded action of the last motion command
    link_ok: bool
    last_error: str | None
    steps: int  # motion commands started
    frame_stamp: float | None  # stamp of the frame of the last recorded step
    warnings: tuple[str, ...] = ()  # what the link says the operator must know while it runs
    estop_reason: str | None = None  # while latched: "e-stop pressed", or why the policy driver stopped
    camera_hz: float | None = None  # the link's camera rate (0.0: stalled; None: unknown)
    guard_stops: int = 0  # motions the deadline guard stopped because this thread was blocked past their end
    collision: str | None = None  # what the link said the robot touched (the stop latched on it)


@dataclass(frozen=True)
class Step:
    """What the parts receive as a recorded step: the frame taken right after the command, and what was
    commanded."""

    frame: Frame
    action: np.ndarray  # (3,) float32 recorded action
    event_type: EventType
    twist: Twist  # what the link was actually sent
    t: float
    # The operator's key (the stop key for stop_action); None for frame 0 and a policy's action.
    key: str | None = None
    source: str | None = None  # who commanded it: "teleop" or "policy"; None for frame 0
    proposed: np.ndarray | None = None  # (3,) a policy's command before the loop clamped it


S = TypeVar("S")


class StateEmitter(Generic[S]):
    """Calls `callback(build(now))` at most `rate_hz` times a second; `force` always calls it."""

    def __init__(
        self, callback: Callable[[S], None] | None, build: Callable[[float], S], rate_hz: float
    ) -> None:
        self.callback = callback
        self.build = build
        self.period = 1.0 / rate_hz
        self._last = float("-inf")

    def __call__(self, now: float, force: bool = False) -> None:
        if self.callback is None:
            return
        if not force and now - self._last < self.period:
            return
        self._last = now
        self.callback(self.build(now))
