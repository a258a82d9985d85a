"""The `RobotLink` contract every robot (ROS 2, MuJoCo sim, fake) implements, and the values it moves.

A link is owned by the control thread; only `stop()` may be called from any thread. `stop()` is
idempotent and never raises for a link that is already stopped or closed. `warnings` lists one-line
texts the operator must see while the link runs (such as driving without the watchdog relay), filled
by `connect()`; empty when there is nothing to say. `camera_hz` is the camera's measured rate. Links are made by `mvla_tui.robot.links.make_link`.

`Frame.stamp` is when the image was taken, on the link's clock (`time.monotonic()` on the wall clock), as
well as the link knows it: the control loop and the policy driver judge a frame's freshness by it (a policy
in step mode acts only on a frame taken after the robot came to rest). `collision` names what the robot
touched, when the link can tell (the simulator); the control loop latches a stop on it like an e-stop.
`simulated_time()` says which clock the link runs on: None for the wall clock, or a `SimulatedTime` (the
simulator in simulated time), on which the control loop then runs, waiting by advancing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from configs.errors import (
    RobotLinkError as RobotLinkError,  # re-exported: the links and their users import it here
)


@dataclass(frozen=True)
class Twist:
    """A velocity command in the robot frame (REP 103): x forward, y left, z counter-clockwise."""

    linear_x: float = 0.0  # m/s (1.15 is a full-speed key press)
    linear_y: float = 0.0  # m/s
    angular_z: float = 0.0  # rad/s

    def as_array(self) -> np.ndarray:
        return np.array([self.linear_x, self.linear_y, self.angular_z], dtype=np.float32)

    @classmethod
    def from_array(cls, values: np.ndarray) -> Twist:
        x, y, z = (float(v) for v in values)
        return cls(x, y, z)

    @property
    def is_zero(self) -> bool:
        return self.linear_x == 0.0 and self.linear_y == 0.0 and self.angular_z == 0.0


STOP = Twist()


@dataclass(frozen=True)
class Frame:
    """One camera image, RGB uint8 (H, W, 3), with the time it was taken (link clock, seconds).

    `synthetic` is True only for images no camera took (the fake robot's). Nothing here refuses them:
    whoever records frames decides what to do with a synthetic one.
    """

    image: np.ndarray
    stamp: float
    synthetic: bool = False


class SimulatedTime(Protocol):
    """A clock that moves only when advanced (the MuJoCo sim in simulated time)."""

    @property
    def time(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


@runtime_checkable
class RobotLink(Protocol):
    warnings: list[str]

    @property
    def camera_hz(self) -> float | None:
        """Frames per second the camera delivers now (0.0 once it stalled; None when unknown)."""
        ...

    @property
    def collision(self) -> str | None:
        """What the robot touched (the first contact), or None: nothing, or a link that cannot tell."""
        ...

    def simulated_time(self) -> SimulatedTime | None:
        """The link's own clock when it has one that moves only when advanced, else None (wall clock)."""
        ...

    def connect(self) -> None: ...

    def send(self, twist: Twist) -> Twist:
        """Command a velocity; returns the twist actually sent (after clamping)."""
        ...

    def stop(self) -> None:
        """Command zero velocity. Idempotent, safe from any thread."""
        ...

    def latest_frame(self, not_before: float | None = None) -> Frame | None:
        """The newest camera frame (None while the camera starts; `RobotLinkError` when it failed). Never
        waits for a new one: `not_before` tells a link that takes frames on demand (the simulator in real
        time) that the caller will use only a frame taken at or after that instant, so it takes one; a
        streaming camera ignores it, and the caller looks again."""
        ...

    def close(self) -> None:
        """Stop the robot and release everything. Idempotent."""
        ...
