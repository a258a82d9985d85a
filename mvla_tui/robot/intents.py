"""What other threads may ask of the control loop; each intent is a small immutable value put on its queue.

The UI, a policy runner or a test builds these and calls `ControlLoop.submit`; only the control thread acts
on them. This module holds no behaviour and must not import a link, rclpy or textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Mode = Literal["step", "hold", "latch"]


@dataclass(frozen=True)
class TeleopKey:
    """A movement key (`w a s d q e z c r t`) or `space`, as pressed or repeated by the terminal."""

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
    mode: Mode


@dataclass(frozen=True)
class PolicyAction:
    """One action `[linear_x, linear_y, angular_z]` (same units as a recorded key action) to execute for
    `duration_s` (the teleop step time when None); a newer action replaces it without stopping between."""

    action: np.ndarray = field(compare=False)
    duration_s: float | None = None


@dataclass(frozen=True)
class CaptureEpisodeStart:
    """Hand the current frame to the step sink as `episode_start` with a zero action (robot not moving)."""


@dataclass(frozen=True)
class Quit:
    reason: str = "quit"


Intent = TeleopKey | EStop | ClearEStop | ChangeThrottle | SetMode | PolicyAction | CaptureEpisodeStart | Quit
