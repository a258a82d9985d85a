"""What other threads may ask of the control loop; each intent is a small immutable value put on its queue.

The UI, a policy runner or a test builds these and calls `ControlLoop.submit`; only the control thread acts
on them. This module holds no behaviour and must not import a link, rclpy or textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mvla_tui.robot.config import Mode


@dataclass(frozen=True)
class TeleopKey:
    """A movement key (`w a s d q e z c r t`) or `space`, as pressed or repeated by the terminal."""

    key: str


@dataclass(frozen=True)
class ReleaseKey:
    """The terminal reported the release of a key (where it can: the kitty keyboard protocol)."""

    key: str


@dataclass(frozen=True)
class EStop:
    """Stop now and refuse motion until `ClearEStop`."""


@dataclass(frozen=True)
class ClearEStop:
    pass


@dataclass(frozen=True)
class ChangeThrottle:
    """Throttle up (+1) or down (-1) by one `teleop.throttle_step`."""

    direction: int


@dataclass(frozen=True)
class SetMode:
    """Switch teleop mode (stops the robot); a name not in `MODES` is refused and reported in the state."""

    mode: Mode


@dataclass(frozen=True)
class PolicyAction:
    """One action `[linear_x, linear_y, angular_z]` (same units as a recorded key action) to execute for
    `duration_s` (the teleop step time when None, and never longer than the larger of `teleop.step_s` and
    `teleop.deadman_s`); a newer action replaces it without stopping between."""

    action: np.ndarray = field(compare=False)
    duration_s: float | None = None


@dataclass(frozen=True)
class CaptureEpisodeStart:
    """Hand the current frame to the parts as an `episode_start` step with a zero action (robot not moving)."""


@dataclass(frozen=True)
class Quit:
    reason: str = "quit"


Intent = (
    TeleopKey
    | ReleaseKey
    | EStop
    | ClearEStop
    | ChangeThrottle
    | SetMode
    | PolicyAction
    | CaptureEpisodeStart
    | Quit
)
